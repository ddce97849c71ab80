//! The service URL of an activity is where the server will post to the team: it must be
//! https on one of Microsoft's Teams hosts (no IP address, no user info, no other port), or
//! in dev mode the emulator's Bot Connector on this server. A signed activity naming another
//! host is refused (an allow list, as for webhook hosts: no request to a host of a caller's
//! choosing, even with a valid token).

use std::time::Duration;

use crate::domain::{is_public, HostList};

#[derive(Debug, Clone)]
pub struct ServiceUrlPolicy {
    hosts: HostList,
    /// Dev mode: the emulator's connector service (`http://127.0.0.1:PORT/emulator/smba/`).
    dev_prefix: Option<String>,
}

/// Longer than any service URL Teams gives (`https://smba.trafficmanager.net/amer/`).
const MAX_LEN: usize = 512;

impl ServiceUrlPolicy {
    pub fn new(hosts: &[String], dev_prefix: Option<String>) -> Result<ServiceUrlPolicy, String> {
        Ok(ServiceUrlPolicy {
            hosts: HostList::new(hosts, "bot service host")?,
            dev_prefix,
        })
    }

    /// `Ok` when the server may post to `url`; else why not, naming it.
    pub fn check(&self, url: &str) -> Result<(), String> {
        let refuse = |why: &str| Err(format!("service url '{url}' {why}"));
        if url.len() > MAX_LEN {
            return Err(format!("service url is longer than {MAX_LEN} characters"));
        }
        if let Some(prefix) = &self.dev_prefix {
            if url.starts_with(prefix.as_str()) && !url.contains("/../") {
                return Ok(());
            }
        }
        let Ok(parsed) = url::Url::parse(url) else {
            return refuse("is not a valid url");
        };
        if parsed.scheme() != "https" {
            return refuse("must start with https://");
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return refuse("must not contain user info");
        }
        if parsed.port().is_some() {
            return refuse("names a port; only the default https port is allowed");
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return refuse("must not have a query or fragment");
        }
        let host = match parsed.host() {
            Some(url::Host::Domain(d)) => d.trim_end_matches('.').to_ascii_lowercase(),
            Some(_) => return refuse("has an ip address for a host"),
            None => return refuse("has no host"),
        };
        if !self.hosts.allows(&host) {
            return refuse("is not on an allowed Bot Framework host (--bot-service-host)");
        }
        Ok(())
    }

    /// Refuses a service URL (one that passed [`ServiceUrlPolicy::check`]) whose host
    /// resolves to a loopback, private, link-local or otherwise non-public address, as for
    /// webhook URLs. A name that does not resolve passes here (nothing can be posted to it
    /// either). The emulator's own connector service passes.
    pub async fn check_resolves_publicly(&self, url: &str) -> Result<(), String> {
        if self
            .dev_prefix
            .as_deref()
            .is_some_and(|p| url.starts_with(p))
        {
            return Ok(());
        }
        let Some(host) = url::Url::parse(url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
        else {
            return Err(format!("service url '{url}' has no host"));
        };
        let lookup = tokio::net::lookup_host((host.as_str(), 443));
        let Ok(Ok(addrs)) = tokio::time::timeout(Duration::from_secs(3), lookup).await else {
            return Ok(());
        };
        for addr in addrs {
            if !is_public(addr.ip()) {
                return Err(format!(
                    "service url host '{host}' resolves to a non-public address"
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(dev: Option<&str>) -> ServiceUrlPolicy {
        let hosts: Vec<String> = super::super::DEFAULT_SERVICE_HOSTS
            .iter()
            .map(|h| h.to_string())
            .collect();
        ServiceUrlPolicy::new(&hosts, dev.map(str::to_string)).unwrap()
    }

    #[test]
    fn microsofts_service_urls_pass_and_others_are_named_with_why() {
        let p = policy(None);
        for ok in [
            "https://smba.trafficmanager.net/amer/",
            "https://smba.trafficmanager.net/emea/",
            "https://SMBA.trafficmanager.net/teams/",
            "https://smba.infra.gcc.teams.microsoft.com/teams",
            "https://smba.infra.gov.teams.microsoft.us/teams",
        ] {
            assert_eq!(p.check(ok), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("http://smba.trafficmanager.net/amer/", "https"),
            ("https://evil.example/amer/", "allowed Bot Framework host"),
            ("https://smba.trafficmanager.net.evil.example/", "allowed"),
            ("https://x.smba.trafficmanager.net/", "allowed"),
            ("https://169.254.169.254/latest/", "ip address"),
            ("https://[::1]/", "ip address"),
            ("https://smba.trafficmanager.net:8443/amer/", "port"),
            ("https://u:p@smba.trafficmanager.net/amer/", "user info"),
            ("https://smba.trafficmanager.net/amer/?x=1", "query"),
            ("not a url", "not a valid url"),
            ("http://127.0.0.1:8080/emulator/smba/amer/", "https"),
        ] {
            let e = p.check(bad).unwrap_err();
            assert!(e.contains(why) && e.contains("service url"), "{bad}: {e}");
        }
    }

    #[test]
    fn dev_mode_takes_only_its_own_emulators_connector_service() {
        let p = policy(Some("http://127.0.0.1:4321/emulator/smba/"));
        assert_eq!(p.check("http://127.0.0.1:4321/emulator/smba/amer/"), Ok(()));
        assert!(p
            .check("http://127.0.0.1:4322/emulator/smba/amer/")
            .is_err());
        assert!(p
            .check("http://127.0.0.1:4321/emulator/smba/../../api/")
            .is_err());
        assert!(p.check("http://127.0.0.1:4321/api/connections").is_err());
        assert_eq!(p.check("https://smba.trafficmanager.net/amer/"), Ok(()));
    }

    #[tokio::test]
    async fn an_allowed_host_that_resolves_to_a_private_address_is_refused() {
        // An operator's list naming a host that points inside the network.
        let p = ServiceUrlPolicy::new(&["localhost".into()], None).unwrap();
        assert_eq!(p.check("https://localhost/amer/"), Ok(()));
        let e = p
            .check_resolves_publicly("https://localhost/amer/")
            .await
            .unwrap_err();
        assert!(
            e.contains("'localhost' resolves to a non-public address"),
            "{e}"
        );
        let dev = policy(Some("http://127.0.0.1:4321/emulator/smba/"));
        assert_eq!(
            dev.check_resolves_publicly("http://127.0.0.1:4321/emulator/smba/amer/")
                .await,
            Ok(())
        );
    }

    #[test]
    fn a_bad_host_on_the_list_is_named() {
        let e = ServiceUrlPolicy::new(&["smba.*.net".into()], None).unwrap_err();
        assert!(e.contains("bot service host 'smba.*.net'"), "{e}");
    }
}

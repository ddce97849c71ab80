//! A channel's webhook URL: the credential that lets whoever holds it post to the channel,
//! and the address the server will later POST to, so only Teams' webhook hosts are taken.

use std::net::IpAddr;
use std::time::Duration;

/// The longest webhook URL accepted; real ones are about 250 characters.
const MAX_LEN: usize = 2048;

/// Microsoft's connector webhook hosts and the Workflows (Power Automate) hosts.
pub const DEFAULT_HOSTS: &[&str] = &[
    "*.webhook.office.com",
    "outlook.office.com",
    "*.logic.azure.com",
    "*.api.powerplatform.com",
];

/// Which webhook URLs the server takes.
#[derive(Debug, Clone)]
pub struct WebhookPolicy {
    /// Lower-case host names; `*.example.com` matches any subdomain (not the bare domain).
    hosts: Vec<String>,
    /// Dev mode: this server's port, whose own emulator inbox is allowed.
    dev_inbox: Option<u16>,
    /// Dev mode: an emulator inbox served by another local process (`http://127.0.0.1:PORT`).
    dev_inbox_origin: Option<String>,
}

impl WebhookPolicy {
    pub fn new(hosts: &[String], dev_inbox: Option<u16>) -> Result<WebhookPolicy, String> {
        let hosts: Vec<String> = hosts
            .iter()
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect();
        for h in &hosts {
            let name = h.strip_prefix("*.").unwrap_or(h);
            if name.is_empty()
                || name.contains('*')
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
            {
                return Err(format!(
                    "webhook host '{h}' must be a host name, optionally starting with '*.'"
                ));
            }
        }
        Ok(WebhookPolicy {
            hosts,
            dev_inbox,
            dev_inbox_origin: None,
        })
    }

    /// Dev mode only: also take the emulator inbox at `origin` (a loopback origin).
    pub fn with_inbox_origin(mut self, origin: &str) -> Result<WebhookPolicy, String> {
        let port = origin
            .strip_prefix("http://127.0.0.1:")
            .and_then(|p| p.trim_end_matches('/').parse::<u16>().ok());
        if self.dev_inbox.is_none() || port.is_none() {
            return Err(format!(
                "dev inbox origin '{origin}' needs dev mode and the form http://127.0.0.1:PORT"
            ));
        }
        self.dev_inbox_origin = Some(origin.trim_end_matches('/').to_string());
        Ok(self)
    }

    pub fn dev_inbox(&self) -> Option<u16> {
        self.dev_inbox
    }

    fn allows(&self, host: &str) -> bool {
        self.hosts.iter().any(|p| match p.strip_prefix("*.") {
            Some(domain) => {
                host.len() > domain.len() + 1
                    && host.ends_with(domain)
                    && host[..host.len() - domain.len()].ends_with('.')
            }
            None => host == p,
        })
    }
}

/// A webhook URL that passed the checks. Its `Debug` and `Display` mask it.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookUrl {
    url: String,
    host: String,
}

impl WebhookUrl {
    /// The checks that need no network: https, an allowed host name (not an IP literal), no
    /// user info, no port but the default.
    pub fn parse(s: &str, policy: &WebhookPolicy) -> Result<WebhookUrl, String> {
        if s.len() > MAX_LEN {
            return Err(format!("webhook url is longer than {MAX_LEN} characters"));
        }
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!(
                "webhook url '{}' contains spaces or control characters",
                mask(s)
            ));
        }
        if let Some(origin) = &policy.dev_inbox_origin {
            let prefix = format!("{origin}/emulator/webhook/");
            if s.starts_with(&prefix) && s.len() > prefix.len() {
                return Ok(WebhookUrl {
                    url: s.to_string(),
                    host: "127.0.0.1".into(),
                });
            }
        }
        if let Some(port) = policy.dev_inbox {
            for host in ["127.0.0.1", "localhost"] {
                let prefix = format!("http://{host}:{port}/emulator/webhook/");
                if s.starts_with(&prefix) && s.len() > prefix.len() {
                    return Ok(WebhookUrl {
                        url: s.to_string(),
                        host: host.into(),
                    });
                }
            }
        }
        let Some(rest) = s
            .get(..8)
            .filter(|p| p.eq_ignore_ascii_case("https://"))
            .map(|_| &s[8..])
        else {
            return Err(format!(
                "webhook url '{}' must start with https://",
                mask(s)
            ));
        };
        let authority = rest.split(['/', '?', '#', '\\']).next().unwrap_or("");
        if authority.contains('@') {
            return Err(format!(
                "webhook url '{}' must not contain user info",
                mask(s)
            ));
        }
        if authority.starts_with('[') {
            return Err(format!(
                "webhook url '{}' has an ip address for a host",
                mask(s)
            ));
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        };
        if port.is_some_and(|p| p != "443") {
            return Err(format!(
                "webhook url '{}' names port {}; only the default https port is allowed",
                mask(s),
                port.unwrap_or("")
            ));
        }
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        if host.is_empty()
            || !host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        {
            return Err(format!("webhook url '{}' has no valid host name", mask(s)));
        }
        if host.parse::<IpAddr>().is_ok()
            || host
                .split('.')
                .all(|p| p.chars().all(|c| c.is_ascii_digit()))
        {
            return Err(format!(
                "webhook url '{}' has an ip address for a host",
                mask(s)
            ));
        }
        if !policy.allows(&host) {
            return Err(format!(
                "webhook url '{}' is not on an allowed host",
                mask(s)
            ));
        }
        Ok(WebhookUrl {
            url: s.to_string(),
            host,
        })
    }

    /// Refuses a host that resolves to a loopback, private, link-local or otherwise
    /// non-public address. A name that does not resolve passes here (it cannot be reached
    /// either); connecting checks again, against DNS rebinding.
    pub async fn check_resolves_publicly(&self, policy: &WebhookPolicy) -> Result<(), String> {
        if policy.dev_inbox.is_some() && self.url.starts_with("http://") {
            return Ok(());
        }
        let lookup = tokio::net::lookup_host((self.host.as_str(), 443));
        let Ok(Ok(addrs)) = tokio::time::timeout(Duration::from_secs(3), lookup).await else {
            return Ok(());
        };
        for addr in addrs {
            if !is_public(addr.ip()) {
                return Err(format!(
                    "webhook url host '{}' resolves to a non-public address",
                    self.host
                ));
            }
        }
        Ok(())
    }

    /// A value that passed [`WebhookUrl::parse`] when it was stored.
    pub(crate) fn trusted(url: String) -> WebhookUrl {
        let host = url
            .split("://")
            .nth(1)
            .and_then(|r| r.split(['/', ':']).next())
            .unwrap_or("")
            .to_string();
        WebhookUrl { url, host }
    }

    pub fn as_str(&self) -> &str {
        &self.url
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    /// The tenant id Teams puts in connector webhook URLs (`…/webhookb2/<group>@<tenant>/…`).
    pub fn tenant(&self) -> Option<&str> {
        let after = self
            .url
            .split("/webhookb2/")
            .nth(1)
            .or_else(|| self.url.split("/webhook/").nth(1))?;
        let tenant = after.split('/').next()?.split_once('@')?.1;
        (!tenant.is_empty()).then_some(tenant)
    }
}

/// Whether `ip` is a public unicast address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || a >= 240
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0 && c == 0)
                || (a == 198 && (18..20).contains(&b)))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            if s[0] == 0x64 && s[1] == 0xff9b {
                let o = v6.octets();
                return is_public(IpAddr::V4([o[12], o[13], o[14], o[15]].into()));
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] == 0x2001 && s[1] == 0x0db8))
        }
    }
}

/// Scheme and host only: what a log line may show of a webhook URL.
pub fn mask(s: &str) -> String {
    match s.find("://") {
        Some(i) => {
            let rest = &s[i + 3..];
            let host = rest.split(['/', '?', '#']).next().unwrap_or("");
            let host = host.rsplit('@').next().unwrap_or(host);
            format!("{}://{host}/…", &s[..i])
        }
        None => "…".to_string(),
    }
}

impl std::fmt::Debug for WebhookUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WebhookUrl({})", mask(&self.url))
    }
}

impl std::fmt::Display for WebhookUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&mask(&self.url))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REAL: &str =
        "https://contoso.webhook.office.com/webhookb2/0b4f@72f9/IncomingWebhook/8c2a/e3c1";

    fn policy() -> WebhookPolicy {
        let hosts: Vec<String> = DEFAULT_HOSTS.iter().map(|h| h.to_string()).collect();
        WebhookPolicy::new(&hosts, None).unwrap()
    }

    #[test]
    fn accepts_connector_and_workflows_webhooks() {
        let url = WebhookUrl::parse(REAL, &policy()).unwrap();
        assert_eq!(url.as_str(), REAL);
        assert_eq!(url.tenant(), Some("72f9"));
        assert!(WebhookUrl::parse(
            "https://prod-12.westeurope.logic.azure.com/workflows/x",
            &policy()
        )
        .is_ok());
        assert!(WebhookUrl::parse(
            "https://outlook.office.com/webhook/a@b/IncomingWebhook/c/d",
            &policy()
        )
        .is_ok());
        assert!(WebhookUrl::parse("https://contoso.webhook.office.com:443/x", &policy()).is_ok());
    }

    #[test]
    fn refuses_other_shapes_naming_the_problem() {
        let p = policy();
        let err = |s: &str| WebhookUrl::parse(s, &p).unwrap_err();
        assert!(err("http://contoso.webhook.office.com/x").contains("https://"));
        assert!(err("https://user:pw@contoso.webhook.office.com/x").contains("user info"));
        assert!(err("https://contoso.webhook.office.com:8443/x").contains("port 8443"));
        assert!(err("https://10.0.0.1/x").contains("ip address"));
        assert!(err("https://[::1]/x").contains("ip address"));
        assert!(err("https://2130706433/x").contains("ip address"));
        assert!(err("https://evil.example.com/x").contains("not on an allowed host"));
        assert!(err("https://webhook.office.com.evil.com/x").contains("not on an allowed host"));
        assert!(err("https://evilwebhook.office.com/x").contains("not on an allowed host"));
        assert!(err("https:///x").contains("host"));
        assert!(err("https://a b/x").contains("spaces"));
        assert!(WebhookUrl::parse(
            &format!("https://a.webhook.office.com/{}", "x".repeat(3000)),
            &p
        )
        .is_err());
    }

    #[test]
    fn dev_mode_allows_exactly_the_own_inbox() {
        let inbox = "http://127.0.0.1:8080/emulator/webhook/webhookb2/a@b/IncomingWebhook/c/d";
        let dev = WebhookPolicy::new(&[], Some(8080)).unwrap();
        assert!(WebhookUrl::parse(inbox, &dev).is_ok());
        assert!(WebhookUrl::parse(inbox, &WebhookPolicy::new(&[], Some(9090)).unwrap()).is_err());
        assert!(WebhookUrl::parse(inbox, &policy()).is_err());
        assert!(WebhookUrl::parse("http://127.0.0.1:8080/api/connections", &dev).is_err());
    }

    #[test]
    fn non_public_addresses_are_recognised() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "64:ff9b::a00:1",
            "224.0.0.1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["52.96.0.1", "2603:1000::1"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[tokio::test]
    async fn a_host_resolving_to_loopback_is_refused() {
        let p = WebhookPolicy::new(&["localhost".to_string()], None).unwrap();
        let url = WebhookUrl::parse("https://localhost/x", &p).unwrap();
        assert!(url
            .check_resolves_publicly(&p)
            .await
            .unwrap_err()
            .contains("non-public"));
    }

    #[test]
    fn debug_and_display_mask_the_url() {
        let url = WebhookUrl::parse(REAL, &policy()).unwrap();
        assert_eq!(url.to_string(), "https://contoso.webhook.office.com/…");
        assert!(!format!("{url:?}").contains("IncomingWebhook"));
    }
}

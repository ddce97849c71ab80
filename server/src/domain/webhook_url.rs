//! A channel's webhook URL: the credential that lets whoever holds it post to the channel,
//! and the address the server will later POST to, so only Teams' webhook hosts are taken.

use std::net::IpAddr;
use std::time::Duration;

pub use connector_settings::webhook::WebhookKind;
use connector_settings::webhook::{kind_of, kind_of_inbox_path, DEV_INBOX_PATH as INBOX_PATH};

/// The longest webhook URL accepted; real ones are about 250 characters.
const MAX_LEN: usize = 2048;

/// Microsoft's connector webhook hosts and the Workflows (Power Automate) hosts.
pub const DEFAULT_HOSTS: &[&str] = &[
    "*.webhook.office.com",
    "outlook.office.com",
    "*.logic.azure.com",
    "*.api.powerplatform.com",
];

/// Host names a URL the server will connect to may name (webhooks, the Bot Framework's
/// service URLs): lower case; `*.example.com` matches any subdomain (not the bare domain).
#[derive(Debug, Clone)]
pub struct HostList(Vec<String>);

impl HostList {
    /// The list, each entry checked; `what` names the list in the error (`webhook host`).
    pub fn new(hosts: &[String], what: &str) -> Result<HostList, String> {
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
                    "{what} '{h}' must be a host name, optionally starting with '*.'"
                ));
            }
        }
        Ok(HostList(hosts))
    }

    /// Whether `host` (lower case) is on the list.
    pub fn allows(&self, host: &str) -> bool {
        self.0.iter().any(|p| match p.strip_prefix("*.") {
            Some(domain) => {
                host.len() > domain.len() + 1
                    && host.ends_with(domain)
                    && host[..host.len() - domain.len()].ends_with('.')
            }
            None => host == p,
        })
    }
}

/// Which webhook URLs the server takes.
#[derive(Debug, Clone)]
pub struct WebhookPolicy {
    hosts: HostList,
    /// Dev mode: this server's port, whose own emulator inbox is allowed.
    dev_inbox: Option<u16>,
    /// Dev mode: an emulator inbox served by another local process (`http://127.0.0.1:PORT`).
    dev_inbox_origin: Option<String>,
}

impl WebhookPolicy {
    pub fn new(hosts: &[String], dev_inbox: Option<u16>) -> Result<WebhookPolicy, String> {
        Ok(WebhookPolicy {
            hosts: HostList::new(hosts, "webhook host")?,
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

    /// Dev mode: the origin of another local server's emulator inbox that is allowed too.
    pub fn dev_inbox_origin(&self) -> Option<&str> {
        self.dev_inbox_origin.as_deref()
    }

    fn allows(&self, host: &str) -> bool {
        self.hosts.allows(host)
    }
}

/// How a bot connection's target is written where a webhook URL would be.
const BOT_PREFIX: &str = "bot:";

/// A channel the app's bot posts to: its tenant (lower case), team (`channelData.team.id`)
/// and channel conversation id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotTarget {
    pub tenant: String,
    pub team: String,
    pub channel: String,
}

/// A webhook URL that passed the checks. Its `Debug` and `Display` mask it.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookUrl {
    /// Exactly as given (what was hashed and is posted to; reqwest parses it with the same
    /// `url` crate the checks used).
    url: String,
    host: String,
    identity: Option<WebhookIdentity>,
    kind: WebhookKind,
}

/// The shapes of Teams' connector webhook URLs, oldest first: when two URLs name the same
/// webhook, the newer form is the one kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Form {
    /// `https://outlook.office.com/webhook/<group>@<tenant>/IncomingWebhook/<id>/<user>`
    Legacy,
    /// `https://<name>.webhook.office.com/webhookb2/<group>@<tenant>/IncomingWebhook/<id>/<user>`
    B2,
    /// The same with a trailing `/V2<token>` segment.
    B2V2,
}

/// Which webhook a connector URL names: the same tenant, group (team) and webhook id is the
/// same webhook, whatever the URL's form. Workflows URLs are opaque and have none.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookIdentity {
    /// Lower case, as are `group` and `id`.
    pub tenant: String,
    pub group: String,
    /// The webhook's own id: part of the credential, so `Debug` leaves it out.
    pub id: String,
    /// The user segment (the object id of who created the webhook), lower case: not part of
    /// what names the webhook, but checkable, so another one is not the stored URL.
    pub user: String,
    pub form: Form,
}

impl WebhookIdentity {
    /// Whether `other` is a webhook of the same tenant and team (maybe another webhook).
    pub fn same_team(&self, other: &WebhookIdentity) -> bool {
        self.tenant == other.tenant && self.group == other.group
    }
}

impl std::fmt::Debug for WebhookIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "WebhookIdentity({}@{}, {:?})",
            self.group, self.tenant, self.form
        )
    }
}

/// Whether the path of `s` (before `?` or `#`) has a `.` or `..` segment, plain or
/// percent-encoded. URL parsers resolve them away, so they are looked for in the text: a
/// URL with them is not the one a person was shown, and in dev mode `…/emulator/webhook/../`
/// would climb out of the inbox into the API.
fn has_dot_segment(s: &str) -> bool {
    let Some((_, rest)) = s.split_once("://") else {
        return false;
    };
    let Some(start) = rest.find(['/', '\\']) else {
        return false;
    };
    let path = rest[start..].split(['?', '#']).next().unwrap_or("");
    path.split(['/', '\\']).any(|segment| {
        let plain = segment.to_ascii_lowercase().replace("%2e", ".");
        plain == "." || plain == ".."
    })
}

/// The identity in a connector webhook path (`segments` after the host, or after the
/// emulator inbox's prefix). `host` says which forms the host serves; `None` allows both
/// (the emulator's inbox imitates both hosts).
fn identity_of(segments: &[&str], host: Option<&str>) -> Option<WebhookIdentity> {
    let legacy_host = host.is_none_or(|h| h == "outlook.office.com");
    let b2_host = host.is_none_or(|h| h.ends_with(".webhook.office.com"));
    let form = match (segments.first().copied(), segments.len()) {
        (Some("webhook"), 5) if legacy_host => Form::Legacy,
        (Some("webhookb2"), 5) if b2_host => Form::B2,
        (Some("webhookb2"), 6) if b2_host && segments[5].starts_with("V2") => Form::B2V2,
        _ => return None,
    };
    if segments[2] != "IncomingWebhook" {
        return None;
    }
    let (group, tenant) = segments[1].split_once('@')?;
    let id = segments[3];
    if [group, tenant, id, segments[4]]
        .iter()
        .any(|p| p.is_empty())
    {
        return None;
    }
    Some(WebhookIdentity {
        tenant: tenant.to_ascii_lowercase(),
        group: group.to_ascii_lowercase(),
        id: id.to_ascii_lowercase(),
        user: segments[4].to_ascii_lowercase(),
        form,
    })
}

/// The identity of a parsed URL: on a Microsoft host, or on an emulator inbox (`http`).
fn identity_of_url(url: &url::Url) -> Option<WebhookIdentity> {
    let segments: Vec<&str> = url.path_segments()?.collect();
    if url.scheme() == "http" {
        let inbox: Vec<&str> = INBOX_PATH.trim_matches('/').split('/').collect();
        let rest = segments.strip_prefix(inbox.as_slice())?;
        return identity_of(rest, None);
    }
    identity_of(&segments, url.host_str())
}

impl WebhookUrl {
    /// The checks that need no network: https, an allowed host name (not an IP literal), no
    /// user info, no port but the default, no dot segments. Parsed with the `url` crate, the
    /// parser reqwest itself uses, so what is checked is what would be connected to.
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
        if has_dot_segment(s) {
            return Err(format!(
                "webhook url '{}' has a '.' or '..' segment in its path; paste the url exactly as teams shows it",
                mask(s)
            ));
        }
        let parsed = url::Url::parse(s)
            .map_err(|e| format!("webhook url '{}' is not a valid url: {e}", mask(s)))?;
        if let Some(url) = dev_inbox(s, &parsed, policy) {
            return Ok(url);
        }
        if parsed.scheme() != "https" {
            return Err(format!(
                "webhook url '{}' must start with https://",
                mask(s)
            ));
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(format!(
                "webhook url '{}' must not contain user info",
                mask(s)
            ));
        }
        let host = match parsed.host() {
            Some(url::Host::Domain(d)) => d.trim_end_matches('.').to_ascii_lowercase(),
            Some(url::Host::Ipv4(_) | url::Host::Ipv6(_)) => {
                return Err(format!(
                    "webhook url '{}' has an ip address for a host",
                    mask(s)
                ))
            }
            None => return Err(format!("webhook url '{}' has no valid host name", mask(s))),
        };
        if let Some(port) = parsed.port() {
            return Err(format!(
                "webhook url '{}' names port {port}; only the default https port is allowed",
                mask(s)
            ));
        }
        if host.is_empty()
            || !host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        {
            return Err(format!("webhook url '{}' has no valid host name", mask(s)));
        }
        if !policy.allows(&host) {
            return Err(format!(
                "webhook url '{}' is not on an allowed host",
                mask(s)
            ));
        }
        Ok(WebhookUrl {
            url: s.to_string(),
            identity: identity_of_url(&parsed),
            kind: kind_of_url(&parsed),
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

    /// The target of a connection on the bot path: no webhook, a channel of a team the
    /// app's bot was added to, kept where a webhook URL would be as
    /// `bot:<tenant>|<team id>|<channel id>` (a form [`WebhookUrl::parse`] never takes, so
    /// no pasted URL is one). The ids are Teams' (`19:…@thread.tacv2`), the tenant lower case.
    pub fn bot(target: &BotTarget) -> WebhookUrl {
        WebhookUrl {
            url: format!(
                "{BOT_PREFIX}{}|{}|{}",
                target.tenant, target.team, target.channel
            ),
            host: String::new(),
            identity: None,
            kind: WebhookKind::Bot,
        }
    }

    /// The channel a bot connection posts to; `None` for a webhook.
    pub fn bot_target(&self) -> Option<BotTarget> {
        let rest = self.url.strip_prefix(BOT_PREFIX)?;
        let mut parts = rest.splitn(3, '|');
        let (tenant, team, channel) = (parts.next()?, parts.next()?, parts.next()?);
        Some(BotTarget {
            tenant: tenant.to_string(),
            team: team.to_string(),
            channel: channel.to_string(),
        })
    }

    /// A value that passed [`WebhookUrl::parse`] when it was stored.
    pub(crate) fn trusted(url: String) -> WebhookUrl {
        if url.starts_with(BOT_PREFIX) {
            return WebhookUrl {
                url,
                host: String::new(),
                identity: None,
                kind: WebhookKind::Bot,
            };
        }
        let parsed = url::Url::parse(&url).ok();
        WebhookUrl {
            host: parsed
                .as_ref()
                .and_then(|u| u.host_str())
                .unwrap_or("")
                .to_string(),
            identity: parsed.as_ref().and_then(identity_of_url),
            kind: parsed.as_ref().map_or(WebhookKind::Connector, kind_of_url),
            url,
        }
    }

    pub fn as_str(&self) -> &str {
        &self.url
    }

    /// The tenant id Teams puts in connector webhook URLs (`…/webhookb2/<group>@<tenant>/…`).
    pub fn tenant(&self) -> Option<&str> {
        self.identity.as_ref().map(|i| i.tenant.as_str())
    }

    /// Which webhook a connector URL names; `None` for Workflows and other opaque URLs.
    pub fn identity(&self) -> Option<&WebhookIdentity> {
        self.identity.as_ref()
    }

    /// Which kind of webhook this is: connector, Workflows (signed or for signed-in callers)
    /// or the retired Logic Apps shape.
    pub fn kind(&self) -> WebhookKind {
        self.kind
    }

    /// Whether this is an emulator inbox on loopback (dev mode), posted to over plain http.
    pub fn is_dev_inbox(&self) -> bool {
        self.url.starts_with("http://")
    }
}

/// The kind of a parsed URL: on a Microsoft host, or on an emulator inbox (`http`).
fn kind_of_url(url: &url::Url) -> WebhookKind {
    let path_and_query = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    };
    if url.scheme() == "http" {
        let rest = path_and_query
            .strip_prefix(INBOX_PATH)
            .unwrap_or(&path_and_query);
        return kind_of_inbox_path(rest);
    }
    kind_of(url.host_str().unwrap_or(""), &path_and_query)
}

/// Dev mode: `s` as a URL of an allowed emulator inbox (this server's own, or the one at
/// `--dev-inbox-origin`), else `None`.
fn dev_inbox(s: &str, parsed: &url::Url, policy: &WebhookPolicy) -> Option<WebhookUrl> {
    let port = policy.dev_inbox?;
    let host = parsed.host_str()?;
    let origin_port = policy
        .dev_inbox_origin
        .as_deref()
        .and_then(|o| o.strip_prefix("http://127.0.0.1:"))
        .and_then(|p| p.parse::<u16>().ok());
    let ours = matches!(host, "127.0.0.1" | "localhost") && parsed.port() == Some(port);
    let other = host == "127.0.0.1" && parsed.port().is_some() && parsed.port() == origin_port;
    let inbox = parsed.scheme() == "http"
        && (ours || other)
        && parsed.username().is_empty()
        && parsed.password().is_none()
        && parsed.path().len() > INBOX_PATH.len()
        && parsed.path().starts_with(INBOX_PATH);
    inbox.then(|| WebhookUrl {
        url: s.to_string(),
        host: host.to_string(),
        identity: identity_of_url(parsed),
        kind: kind_of_url(parsed),
    })
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
    fn a_bot_target_is_kept_as_it_was_and_never_taken_from_a_pasted_url() {
        let target = BotTarget {
            tenant: "72f988bf-86f1-41af-91ab-2d7cd011db47".into(),
            team: "19:abc@thread.tacv2".into(),
            channel: "19:def@thread.tacv2".into(),
        };
        let url = WebhookUrl::bot(&target);
        assert_eq!(url.kind(), WebhookKind::Bot);
        assert_eq!(url.bot_target(), Some(target.clone()));
        assert!(url.identity().is_none() && !url.is_dev_inbox());
        let stored = WebhookUrl::trusted(url.as_str().to_string());
        assert_eq!(stored.kind(), WebhookKind::Bot);
        assert_eq!(stored.bot_target(), Some(target));
        assert!(!url.to_string().contains("19:"), "shown masked: {url}");
        assert!(WebhookUrl::parse(url.as_str(), &policy()).is_err());
        assert!(WebhookUrl::trusted(REAL.into()).bot_target().is_none());
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

    #[test]
    fn dot_segments_are_refused_plain_or_percent_encoded() {
        let p = policy();
        let dev = WebhookPolicy::new(&[], Some(8080)).unwrap();
        for (url, policy) in [
            ("https://contoso.webhook.office.com/webhookb2/../x", &p),
            ("https://contoso.webhook.office.com/./webhookb2/x", &p),
            ("https://contoso.webhook.office.com/webhookb2/%2e%2e/x", &p),
            ("https://contoso.webhook.office.com/webhookb2/%2E./x", &p),
            ("https://contoso.webhook.office.com/webhookb2/x/..", &p),
            ("https://contoso.webhook.office.com/webhookb2\\..\\x", &p),
            (
                "http://127.0.0.1:8080/emulator/webhook/../../api/connections/x",
                &dev,
            ),
            (
                "http://127.0.0.1:8080/emulator/webhook/%2e%2e/%2e%2e/api/health",
                &dev,
            ),
        ] {
            let err = WebhookUrl::parse(url, policy).unwrap_err();
            assert!(err.contains("'.' or '..' segment"), "{url}: {err}");
            assert!(!err.contains("IncomingWebhook"), "masked: {err}");
        }
        // Dots inside a segment, or in the query, are fine.
        assert!(WebhookUrl::parse("https://contoso.webhook.office.com/a..b/x?v=..", &p).is_ok());
    }

    #[test]
    fn the_host_is_the_one_the_url_parser_sees() {
        let p = policy();
        // A backslash ends the host for http(s) parsers, as it does for reqwest.
        assert!(WebhookUrl::parse(
            "https://evil.example.com\\@contoso.webhook.office.com/x",
            &p
        )
        .unwrap_err()
        .contains("not on an allowed host"));
        assert!(WebhookUrl::parse("https://0x7f.1/x", &p)
            .unwrap_err()
            .contains("ip address"));
        let upper = WebhookUrl::parse("HTTPS://Contoso.Webhook.Office.com/x", &p).unwrap();
        assert_eq!(upper.host, "contoso.webhook.office.com");
    }

    #[test]
    fn every_connector_form_names_the_same_webhook() {
        let p = policy();
        let dev = WebhookPolicy::new(
            &["*.webhook.office.com".into(), "outlook.office.com".into()],
            Some(8080),
        )
        .unwrap();
        let forms = [
            ("https://outlook.office.com/webhook/0B4F@72F9/IncomingWebhook/8C2A/e3c1", Form::Legacy, &p),
            (REAL, Form::B2, &p),
            ("https://contoso.webhook.office.com/webhookb2/0b4f@72f9/IncomingWebhook/8c2a/e3c1/V2abcDEF", Form::B2V2, &p),
            ("http://127.0.0.1:8080/emulator/webhook/webhook/0b4f@72f9/IncomingWebhook/8c2a/e3c1", Form::Legacy, &dev),
            ("http://127.0.0.1:8080/emulator/webhook/webhookb2/0b4f@72f9/IncomingWebhook/8c2a/e3c1/V2x", Form::B2V2, &dev),
        ];
        for (url, form, policy) in forms {
            let id = WebhookUrl::parse(url, policy)
                .unwrap()
                .identity()
                .cloned()
                .unwrap();
            assert_eq!(
                (
                    id.tenant.as_str(),
                    id.group.as_str(),
                    id.id.as_str(),
                    id.form
                ),
                ("72f9", "0b4f", "8c2a", form),
                "{url}"
            );
            assert!(
                !format!("{id:?}").contains("8c2a"),
                "the webhook id stays out of Debug"
            );
        }
        assert!(Form::Legacy < Form::B2 && Form::B2 < Form::B2V2);
        let other = WebhookUrl::parse(
            "https://contoso.webhook.office.com/webhookb2/0b4f@72f9/IncomingWebhook/ffff/e3c1",
            &p,
        )
        .unwrap();
        let real = WebhookUrl::parse(REAL, &p).unwrap();
        assert!(other
            .identity()
            .unwrap()
            .same_team(real.identity().unwrap()));
        assert_ne!(other.identity(), real.identity());
        assert_eq!(WebhookUrl::trusted(REAL.into()).identity(), real.identity());
    }

    #[test]
    fn workflows_and_misshapen_urls_have_no_identity() {
        let p = policy();
        for url in [
            "https://prod-12.westeurope.logic.azure.com:443/workflows/abc/triggers/manual/paths/invoke?api-version=2016-06-01&sig=x",
            "https://contoso.webhook.office.com/webhookb2/0b4f@72f9/IncomingWebhook/8c2a",
            "https://contoso.webhook.office.com/webhookb2/0b4f/IncomingWebhook/8c2a/e3c1",
            "https://contoso.webhook.office.com/webhook/0b4f@72f9/IncomingWebhook/8c2a/e3c1",
            "https://outlook.office.com/webhookb2/0b4f@72f9/IncomingWebhook/8c2a/e3c1",
        ] {
            let parsed = WebhookUrl::parse(url, &p).unwrap();
            assert!(parsed.identity().is_none(), "{url}");
            assert!(parsed.tenant().is_none(), "{url}");
        }
    }
}

//! A channel's webhook URL: the credential that lets whoever holds it post to the channel.

/// The longest webhook URL accepted; real ones are about 250 characters.
const MAX_LEN: usize = 2048;

/// A webhook URL that passed the checks. Its `Debug` and `Display` mask it.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookUrl(String);

impl WebhookUrl {
    /// Accepts an absolute https URL with a host, no user info, no spaces. `dev_inbox`
    /// additionally allows exactly the emulator's own inbox on this server
    /// (`http://127.0.0.1:PORT/emulator/webhook/...`).
    pub fn parse(s: &str, dev_inbox: Option<u16>) -> Result<WebhookUrl, String> {
        if s.len() > MAX_LEN {
            return Err(format!("webhook url is longer than {MAX_LEN} characters"));
        }
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!(
                "webhook url '{}' contains spaces or control characters",
                mask(s)
            ));
        }
        if let Some(port) = dev_inbox {
            for host in ["127.0.0.1", "localhost"] {
                let prefix = format!("http://{host}:{port}/emulator/webhook/");
                if s.starts_with(&prefix) && s.len() > prefix.len() {
                    return Ok(WebhookUrl(s.to_string()));
                }
            }
        }
        let Some(rest) = s.strip_prefix("https://") else {
            return Err(format!(
                "webhook url '{}' must start with https://",
                mask(s)
            ));
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        if authority.contains('@') {
            return Err(format!(
                "webhook url '{}' must not contain user info",
                mask(s)
            ));
        }
        let host = authority.split(':').next().unwrap_or("");
        if host.is_empty()
            || !host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        {
            return Err(format!("webhook url '{}' has no valid host name", mask(s)));
        }
        Ok(WebhookUrl(s.to_string()))
    }

    /// A value that passed [`WebhookUrl::parse`] when it was stored.
    pub(crate) fn trusted(url: String) -> WebhookUrl {
        WebhookUrl(url)
    }

    pub fn as_str(&self) -> &str {
        &self.0
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
        write!(f, "WebhookUrl({})", mask(&self.0))
    }
}

impl std::fmt::Display for WebhookUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&mask(&self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REAL: &str =
        "https://contoso.webhook.office.com/webhookb2/0b4f@72f9/IncomingWebhook/8c2a/e3c1";

    #[test]
    fn accepts_a_real_connector_webhook() {
        assert_eq!(WebhookUrl::parse(REAL, None).unwrap().as_str(), REAL);
    }

    #[test]
    fn refuses_other_shapes_naming_the_problem() {
        assert!(
            WebhookUrl::parse("http://contoso.webhook.office.com/x", None)
                .unwrap_err()
                .contains("https://")
        );
        assert!(WebhookUrl::parse("https://user:pw@evil.com/x", None)
            .unwrap_err()
            .contains("user info"));
        assert!(WebhookUrl::parse("https:///x", None)
            .unwrap_err()
            .contains("host"));
        assert!(WebhookUrl::parse("https://a b/x", None)
            .unwrap_err()
            .contains("spaces"));
        assert!(WebhookUrl::parse(&format!("https://a.com/{}", "x".repeat(3000)), None).is_err());
    }

    #[test]
    fn dev_mode_allows_exactly_the_own_inbox() {
        let inbox = "http://127.0.0.1:8080/emulator/webhook/webhookb2/a@b/IncomingWebhook/c/d";
        assert!(WebhookUrl::parse(inbox, Some(8080)).is_ok());
        assert!(WebhookUrl::parse(inbox, Some(9090)).is_err());
        assert!(WebhookUrl::parse(inbox, None).is_err());
        assert!(WebhookUrl::parse("http://127.0.0.1:8080/api/connections", Some(8080)).is_err());
    }

    #[test]
    fn debug_and_display_mask_the_url() {
        let url = WebhookUrl::parse(REAL, None).unwrap();
        assert_eq!(url.to_string(), "https://contoso.webhook.office.com/…");
        assert!(!format!("{url:?}").contains("IncomingWebhook"));
    }
}

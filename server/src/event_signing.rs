//! The events secrets and the two ways an event is signed: Standard Webhooks
//! (<https://www.standardwebhooks.com>, verified by the `standardwebhooks` crate) and the
//! deprecated `x-connector-signature` scheme. Several secrets may be set at once so one can
//! be rotated: any of them may sign.

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The shortest plain secret taken: a shorter one (an empty one above all) can be guessed
/// or is a mistake, and would let anyone send events.
pub const MIN_PLAIN_BYTES: usize = 32;
/// Standard Webhooks keys are 24 to 64 bytes (the spec's "Symmetric" section).
pub const WHSEC_BYTES: std::ops::RangeInclusive<usize> = 24..=64;
const WHSEC_PREFIX: &str = "whsec_";

/// One events secret: its name (for logs) and the keys of both schemes.
#[derive(Clone)]
pub struct EventSecret {
    /// The `id` of `id:secret`, or `default` for a lone secret.
    pub id: String,
    /// Standard Webhooks' HMAC key: the base64 after `whsec_`, or a plain secret's bytes.
    key: Vec<u8>,
    /// The deprecated scheme's HMAC key: the secret's text as given (as before).
    legacy_key: Vec<u8>,
}

impl std::fmt::Debug for EventSecret {
    // The keys never reach a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EventSecret({})", self.id)
    }
}

/// The events secrets, in the order given; the first signs (`send-event`).
#[derive(Clone, Debug)]
pub struct EventSecrets(Vec<EventSecret>);

/// Why the secrets option was refused; never shows a secret.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SecretsError {
    #[error("the secret is empty; a plain secret must be at least {MIN_PLAIN_BYTES} bytes (e.g. `openssl rand -hex 32`)")]
    Empty,
    #[error("{0} is only {1} bytes; a plain secret must be at least {MIN_PLAIN_BYTES} bytes (e.g. `openssl rand -hex 32`)")]
    Short(String, usize),
    #[error("{0} starts with whsec_ but the rest is not base64")]
    NotBase64(String),
    #[error("{0} is a whsec_ key of {1} bytes; Standard Webhooks keys are 24 to 64 bytes")]
    WhsecLength(String, usize),
    #[error("secret '{0}' is named twice")]
    Duplicate(String),
    #[error("an entry between commas is empty")]
    EmptyEntry,
    #[error("a secret without an id is mixed with id:secret entries; name every one")]
    Unnamed,
}

/// An id of `id:secret`: short, so that a plain secret is rarely mistaken for one.
fn is_id(s: &str) -> bool {
    (1..=32).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl EventSecret {
    fn parse(id: &str, secret: &str) -> Result<Self, SecretsError> {
        let named = if id == "default" {
            "the secret".to_string()
        } else {
            format!("secret '{id}'")
        };
        let key = match secret.strip_prefix(WHSEC_PREFIX) {
            Some(b64) => {
                let key = base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .map_err(|_| SecretsError::NotBase64(named.clone()))?;
                if !WHSEC_BYTES.contains(&key.len()) {
                    return Err(SecretsError::WhsecLength(named, key.len()));
                }
                key
            }
            None if secret.len() < MIN_PLAIN_BYTES => {
                return Err(if secret.is_empty() && id == "default" {
                    SecretsError::Empty
                } else {
                    SecretsError::Short(named, secret.len())
                })
            }
            None => secret.as_bytes().to_vec(),
        };
        Ok(EventSecret {
            id: id.to_string(),
            key,
            legacy_key: secret.as_bytes().to_vec(),
        })
    }

    /// The Standard Webhooks verifier of this secret.
    pub fn webhook(&self) -> standardwebhooks::Webhook {
        standardwebhooks::Webhook::from_bytes(self.key.clone()).expect("any key is taken")
    }

    /// The deprecated scheme's keyed hash of "<timestamp>.<body>".
    fn legacy_mac(&self, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
        legacy_mac(&self.legacy_key, timestamp, body)
    }

    /// Whether `signature` (32 bytes) is the deprecated scheme's, in constant time.
    pub fn legacy_verify(&self, timestamp: i64, body: &[u8], signature: &[u8]) -> bool {
        self.legacy_mac(timestamp, body)
            .verify_slice(signature)
            .is_ok()
    }

    /// `v1,<base64>` of the Standard Webhooks signature of `<id>.<timestamp>.<body>`.
    pub fn sign(&self, msg_id: &str, timestamp: i64, body: &str) -> String {
        self.webhook()
            .sign(msg_id, timestamp, body.as_bytes())
            .expect("a str is UTF-8")
    }

    /// The deprecated `sha256=<hex>` signature.
    pub fn legacy_sign(&self, timestamp: i64, body: &[u8]) -> String {
        legacy_sign(&self.legacy_key, timestamp, body)
    }
}

fn legacy_mac(key: &[u8], timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    mac
}

/// The deprecated `sha256=<hex>` of HMAC-SHA256(secret, "<timestamp>.<body>").
pub fn legacy_sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    format!(
        "sha256={}",
        hex::encode(legacy_mac(secret, timestamp, body).finalize().into_bytes())
    )
}

impl EventSecrets {
    /// `id:secret,id:secret`, or one plain secret as before. An entry is `id:secret` when
    /// what comes before its first colon is 1 to 32 letters, digits, `-` or `_`; a lone
    /// secret that is not such an entry is the whole value (commas and all).
    pub fn parse(value: &str) -> Result<Self, SecretsError> {
        let split = |entry: &str| {
            entry
                .split_once(':')
                .filter(|(id, rest)| is_id(id) && !rest.is_empty())
                .map(|(id, rest)| (id.to_string(), rest.to_string()))
        };
        let entries: Vec<&str> = value.split(',').collect();
        let named: Option<Vec<(String, String)>> = entries.iter().map(|e| split(e)).collect();
        let secrets = match named {
            Some(named) => {
                let mut seen = std::collections::HashSet::new();
                named
                    .into_iter()
                    .map(|(id, secret)| {
                        if !seen.insert(id.clone()) {
                            return Err(SecretsError::Duplicate(id));
                        }
                        EventSecret::parse(&id, &secret)
                    })
                    .collect::<Result<Vec<_>, _>>()?
            }
            None if entries.len() > 1 && entries.iter().skip(1).all(|e| split(e).is_some()) => {
                // `x,a:…`: the first entry lost its id; a plain secret is never followed by
                // named ones.
                return Err(if entries[0].is_empty() {
                    SecretsError::EmptyEntry
                } else {
                    SecretsError::Unnamed
                });
            }
            None => vec![EventSecret::parse("default", value)?],
        };
        Ok(EventSecrets(secrets))
    }

    pub fn iter(&self) -> impl Iterator<Item = &EventSecret> {
        self.0.iter()
    }

    /// The secret that signs what this process sends.
    pub fn first(&self) -> &EventSecret {
        &self.0[0]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAIN: &str = "0123456789abcdef0123456789abcdef";
    // The `standardwebhooks` crate's own test key and signature.
    const WHSEC: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

    #[test]
    fn a_plain_secret_is_one_default_secret_keyed_by_its_bytes() {
        let s = EventSecrets::parse(PLAIN).unwrap();
        let ids: Vec<&str> = s.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["default"]);
        assert_eq!(s.first().key, PLAIN.as_bytes());
        // Commas without ids are part of a plain secret, as before.
        let comma = format!("{PLAIN},{PLAIN}");
        assert_eq!(
            EventSecrets::parse(&comma).unwrap().first().key,
            comma.as_bytes()
        );
    }

    #[test]
    fn whsec_keys_are_base64_and_sign_as_the_spec_says() {
        let s = EventSecrets::parse(&format!("new:{WHSEC},old:{PLAIN}")).unwrap();
        let ids: Vec<&str> = s.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["new", "old"]);
        assert_eq!(
            s.first().sign(
                "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
                1649367553,
                r#"{"email":"test@example.com","username":"test_user"}"#
            ),
            "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="
        );
    }

    #[test]
    fn bad_secrets_are_named_without_showing_them() {
        let short = "a:hunter2";
        for (value, err) in [
            ("", SecretsError::Empty),
            ("hunter2", SecretsError::Short("the secret".into(), 7)),
            (short, SecretsError::Short("secret 'a'".into(), 7)),
            (
                "whsec_not*base64",
                SecretsError::NotBase64("the secret".into()),
            ),
            (
                "k:whsec_aGVsbG8=",
                SecretsError::WhsecLength("secret 'k'".into(), 5),
            ),
            (
                &format!("a:{PLAIN},a:{PLAIN}"),
                SecretsError::Duplicate("a".into()),
            ),
            (&format!(",a:{PLAIN}"), SecretsError::EmptyEntry),
            (&format!("hunter2,a:{PLAIN}"), SecretsError::Unnamed),
        ] {
            let got = EventSecrets::parse(value).unwrap_err();
            assert_eq!(got, err, "{value}");
            assert!(!got.to_string().contains("hunter2"), "{got}");
        }
    }
}

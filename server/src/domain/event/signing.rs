//! How an event is signed: the events secrets and the two schemes, Standard Webhooks
//! (<https://www.standardwebhooks.com>, verified by the `standardwebhooks` crate) and the
//! deprecated `x-connector-signature` scheme (HMAC-SHA256 over `<timestamp>.<raw body>`).
//! Several secrets may be set at once so one can be rotated: any of them may sign.

use axum::http::HeaderMap;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use standardwebhooks::{HEADER_WEBHOOK_ID, HEADER_WEBHOOK_SIGNATURE, HEADER_WEBHOOK_TIMESTAMP};

use super::EventError;
use crate::clock::now_ms;

/// Signatures older or newer than this are refused (replays).
const MAX_SKEW_SECS: u64 = 300;
/// The deprecated scheme's headers.
pub const TIMESTAMP_HEADER: &str = "x-connector-timestamp";
pub const SIGNATURE_HEADER: &str = "x-connector-signature";

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

fn unsigned(message: String) -> EventError {
    EventError::Unsigned(message)
}

/// `sha256=<hex>` of HMAC-SHA256(secret, "<timestamp>.<body>"): the deprecated scheme.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    legacy_sign(secret.as_bytes(), timestamp, body)
}

/// Whether a request is signed with the deprecated scheme: one of its headers, and none of
/// Standard Webhooks' (any of those means that scheme, whose missing headers are then named).
pub fn is_legacy(headers: &HeaderMap) -> bool {
    ![
        HEADER_WEBHOOK_ID,
        HEADER_WEBHOOK_TIMESTAMP,
        HEADER_WEBHOOK_SIGNATURE,
    ]
    .iter()
    .any(|h| headers.contains_key(*h))
        && (headers.contains_key(TIMESTAMP_HEADER) || headers.contains_key(SIGNATURE_HEADER))
}

/// Who of `secrets` signed `body` with `headers`: the deprecated scheme's signature when
/// `legacy`, else Standard Webhooks', each header named when missing or malformed.
pub fn verify(
    secrets: &EventSecrets,
    headers: &HeaderMap,
    body: &[u8],
    legacy: bool,
) -> Result<Signed, EventError> {
    let has_any = |names: [&str; 3]| names.iter().any(|h| headers.contains_key(*h));
    if legacy {
        verify_legacy(secrets, headers, body)
    } else if has_any([
        HEADER_WEBHOOK_ID,
        HEADER_WEBHOOK_TIMESTAMP,
        HEADER_WEBHOOK_SIGNATURE,
    ]) {
        verify_standard(secrets, headers, body)
    } else {
        Err(unsigned(format!(
            "the event is not signed: send the Standard Webhooks headers '{HEADER_WEBHOOK_ID}', '{HEADER_WEBHOOK_TIMESTAMP}' and '{HEADER_WEBHOOK_SIGNATURE}' (see docs/events.md)"
        )))
    }
}

/// Who signed: the id the event is known by (if the signature gives one), the secret's
/// name, and a replay's id for an event without one.
pub struct Signed {
    pub webhook_id: Option<String>,
    pub secret: String,
    pub replay_id: String,
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, EventError> {
    headers
        .get(name)
        .map(|v| {
            v.to_str()
                .map(str::trim)
                .map_err(|_| unsigned(format!("the '{name}' header is not text")))
        })
        .transpose()
}

/// The timestamp header as unix seconds within [`MAX_SKEW_SECS`] of now.
fn timestamp(headers: &HeaderMap, name: &str) -> Result<i64, EventError> {
    let timestamp: i64 = header(headers, name)?
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| unsigned(format!("the '{name}' header (unix seconds) is required")))?;
    // abs_diff: no timestamp, however far off, can overflow the comparison.
    if (now_ms() / 1000).abs_diff(timestamp) > MAX_SKEW_SECS {
        return Err(unsigned(format!(
            "timestamp {timestamp} is more than {MAX_SKEW_SECS} s away from now"
        )));
    }
    Ok(timestamp)
}

/// Standard Webhooks: the headers named when missing or malformed, then the `standardwebhooks`
/// crate's verification with each secret in turn.
fn verify_standard(
    secrets: &EventSecrets,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Signed, EventError> {
    let id = header(headers, HEADER_WEBHOOK_ID)?
        .filter(|id| !id.is_empty())
        .ok_or_else(|| {
            unsigned(format!(
                "the '{HEADER_WEBHOOK_ID}' header (the event's unique id) is required"
            ))
        })?;
    timestamp(headers, HEADER_WEBHOOK_TIMESTAMP)?;
    let given = header(headers, HEADER_WEBHOOK_SIGNATURE)?.ok_or_else(|| {
        unsigned(format!(
            "the '{HEADER_WEBHOOK_SIGNATURE}' header (v1,<base64>) is required"
        ))
    })?;
    let mut versions = Vec::new();
    for part in given.split(' ').filter(|p| !p.is_empty()) {
        let Some((version, signature)) = part.split_once(',') else {
            return Err(unsigned(format!(
                "the '{HEADER_WEBHOOK_SIGNATURE}' header must be space-separated v1,<base64> signatures"
            )));
        };
        if version == "v1"
            && base64::engine::general_purpose::STANDARD
                .decode(signature)
                .map_or(true, |b| b.len() != 32)
        {
            return Err(unsigned(format!(
                "a v1 signature in the '{HEADER_WEBHOOK_SIGNATURE}' header must be the base64 of 32 bytes (HMAC-SHA256)"
            )));
        }
        versions.push(version);
    }
    if versions.is_empty() {
        return Err(unsigned(format!(
            "the '{HEADER_WEBHOOK_SIGNATURE}' header must be space-separated v1,<base64> signatures"
        )));
    }
    if !versions.contains(&"v1") {
        let shown: Vec<String> = versions
            .iter()
            .map(|v| format!("'{}'", v.chars().take(20).collect::<String>()))
            .collect();
        return Err(unsigned(format!(
            "signature version {} is not supported: only v1 (HMAC-SHA256) is",
            shown.join(", ")
        )));
    }
    if std::str::from_utf8(body).is_err() {
        return Err(EventError::Invalid("the event is not UTF-8 JSON".into()));
    }
    // The timestamp was checked above, so the crate's own window check cannot overflow.
    let signer = secrets
        .iter()
        .find(|s| s.webhook().verify(body, headers).is_ok())
        .ok_or_else(|| {
            unsigned(format!(
                "no signature in the '{HEADER_WEBHOOK_SIGNATURE}' header matches an events secret"
            ))
        })?;
    Ok(Signed {
        webhook_id: Some(id.to_string()),
        secret: signer.id.clone(),
        replay_id: String::new(),
    })
}

/// The deprecated scheme, checked in constant time with each secret in turn.
fn verify_legacy(
    secrets: &EventSecrets,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Signed, EventError> {
    let timestamp = timestamp(headers, TIMESTAMP_HEADER)?;
    let Some(given) = header(headers, SIGNATURE_HEADER)? else {
        return Err(unsigned(format!(
            "the '{SIGNATURE_HEADER}' header (sha256=<hex>) is required"
        )));
    };
    let bytes = given
        .strip_prefix("sha256=")
        .and_then(|h| hex::decode(h).ok())
        .filter(|b| b.len() == 32)
        .ok_or_else(|| {
            unsigned(format!(
                "the '{SIGNATURE_HEADER}' header must be sha256=<64 hex digits>"
            ))
        })?;
    let signer = secrets
        .iter()
        .find(|s| s.legacy_verify(timestamp, body, &bytes))
        .ok_or_else(|| unsigned("the event signature does not match".into()))?;
    Ok(Signed {
        webhook_id: None,
        secret: signer.id.clone(),
        replay_id: format!("sig-{}", hex::encode(bytes)),
    })
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

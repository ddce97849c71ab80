//! AES-256-GCM for webhook URLs at rest. Each stored value names the key that sealed it, so
//! keys can be rotated: the first key of the ring seals, every key in the ring opens.

use std::collections::HashMap;
use std::path::Path;

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use anyhow::{bail, Context, Result};

/// The encryption keys, by id; the first one seals new values.
#[derive(Clone)]
pub struct Keyring {
    current: String,
    keys: HashMap<String, [u8; 32]>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Keyring(current: {}, {} keys)",
            self.current,
            self.keys.len()
        )
    }
}

impl Keyring {
    /// Parses `id:hex` entries separated by commas or new lines; the first is current.
    pub fn parse(text: &str) -> Result<Keyring> {
        let mut current = None;
        let mut keys = HashMap::new();
        let entries = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.starts_with('#'))
            .flat_map(|l| l.split(','))
            .map(str::trim)
            .filter(|e| !e.is_empty());
        for entry in entries {
            let Some((id, hex_key)) = entry.split_once(':') else {
                bail!(
                    "encryption key entry '{}…' is not id:hex",
                    entry.chars().take(8).collect::<String>()
                );
            };
            if id.is_empty()
                || id.len() > 32
                || !id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                bail!("encryption key id '{id}' must be 1 to 32 letters, digits, - or _");
            }
            let bytes = hex::decode(hex_key.trim())
                .with_context(|| format!("encryption key '{id}' is not hex"))?;
            let Ok(key) = <[u8; 32]>::try_from(bytes.as_slice()) else {
                bail!(
                    "encryption key '{id}' must be 32 bytes (64 hex characters), not {}",
                    bytes.len()
                );
            };
            if keys.insert(id.to_string(), key).is_some() {
                bail!("encryption key id '{id}' appears twice");
            }
            current.get_or_insert_with(|| id.to_string());
        }
        let Some(current) = current else {
            bail!("no encryption key given")
        };
        Ok(Keyring { current, keys })
    }

    /// Reads the key file, or creates it with one random key (owner-readable only).
    pub fn load_or_create(path: &Path) -> Result<Keyring> {
        if path.exists() {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            return Keyring::parse(&text).with_context(|| format!("key file {}", path.display()));
        }
        let key: [u8; 32] = rand::random();
        let text = format!(
            "# AES-256-GCM keys for webhook URLs, id:hex; the first seals, all open\nk1:{}\n",
            hex::encode(key)
        );
        crate::domain::keyed_hash::write_private(path, &text)?;
        tracing::info!(path = %path.display(), "created a new encryption key file");
        Keyring::parse(&text)
    }

    /// Each key's id and check value (see [`crate::domain::HashKey::check`]).
    pub fn checks(&self) -> Vec<(String, Vec<u8>)> {
        let mut all: Vec<(String, Vec<u8>)> = self
            .keys
            .iter()
            .map(|(id, key)| (id.clone(), crate::domain::keyed_hash::check_value(key)))
            .collect();
        all.sort();
        all
    }

    pub fn current_id(&self) -> &str {
        &self.current
    }

    /// Seals `plain`, bound to `context` (the row's entity id) so a value cannot be moved to
    /// another row. Returns the key id and nonce‖ciphertext.
    pub fn seal(&self, plain: &str, context: &str) -> (String, Vec<u8>) {
        let cipher = Aes256Gcm::new((&self.keys[&self.current]).into());
        let nonce: [u8; 12] = rand::random();
        let mut out = nonce.to_vec();
        out.extend(
            cipher
                .encrypt(
                    Nonce::from_slice(&nonce),
                    Payload {
                        msg: plain.as_bytes(),
                        aad: context.as_bytes(),
                    },
                )
                .expect("aes-gcm encryption cannot fail for in-memory data"),
        );
        (self.current.clone(), out)
    }

    /// Opens a value sealed by [`Keyring::seal`] with key `id`.
    pub fn open(&self, id: &str, sealed: &[u8], context: &str) -> Result<String> {
        let Some(key) = self.keys.get(id) else {
            bail!("encryption key '{id}' is not in the key ring")
        };
        if sealed.len() < 12 {
            bail!("sealed value is too short");
        }
        let (nonce, ct) = sealed.split_at(12);
        let plain = Aes256Gcm::new(key.into())
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| anyhow::anyhow!("sealed value does not open with key '{id}'"))?;
        Ok(String::from_utf8(plain)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(text: &str) -> Keyring {
        Keyring::parse(text).unwrap()
    }

    #[test]
    fn sealed_values_open_only_with_their_key_and_context() {
        let a = ring(&format!("k1:{}", "11".repeat(32)));
        let (id, sealed) = a.seal("https://x.webhook.office.com/secret", "conn-1");
        assert_eq!(id, "k1");
        assert!(!String::from_utf8_lossy(&sealed).contains("secret"));
        assert_eq!(
            a.open("k1", &sealed, "conn-1").unwrap(),
            "https://x.webhook.office.com/secret"
        );
        assert!(a.open("k1", &sealed, "conn-2").is_err(), "bound to its row");
        let other = ring(&format!("k1:{}", "22".repeat(32)));
        assert!(other.open("k1", &sealed, "conn-1").is_err());
    }

    #[test]
    fn rotation_seals_with_the_first_and_opens_with_any() {
        let old = ring(&format!("k1:{}", "11".repeat(32)));
        let (_, sealed) = old.seal("v", "c");
        let rotated = ring(&format!("k2:{},k1:{}", "22".repeat(32), "11".repeat(32)));
        assert_eq!(rotated.current_id(), "k2");
        assert_eq!(rotated.open("k1", &sealed, "c").unwrap(), "v");
        assert_eq!(rotated.seal("v", "c").0, "k2");
    }

    #[test]
    fn malformed_rings_are_refused_with_the_reason() {
        assert!(Keyring::parse("")
            .unwrap_err()
            .to_string()
            .contains("no encryption key"));
        assert!(Keyring::parse("k1")
            .unwrap_err()
            .to_string()
            .contains("id:hex"));
        assert!(Keyring::parse("k1:abcd")
            .unwrap_err()
            .to_string()
            .contains("32 bytes"));
        assert!(Keyring::parse(&format!("k1:{0},k1:{0}", "11".repeat(32)))
            .unwrap_err()
            .to_string()
            .contains("twice"));
        assert!(Keyring::parse(&format!("bad id:{}", "11".repeat(32))).is_err());
    }
}

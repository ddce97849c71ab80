//! The server's secret key and the keyed hash (HMAC-SHA256) through which webhook URLs are
//! looked up and compared, so a stolen database cannot be matched against guessed URLs.

use std::path::Path;

use anyhow::{bail, Context, Result};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::WebhookUrl;

/// The 32-byte key.
#[derive(Clone)]
pub struct HashKey([u8; 32]);

/// A webhook URL's keyed hash.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookHash(pub [u8; 32]);

impl HashKey {
    /// From 64 hex characters.
    pub fn from_hex(hex_key: &str) -> Result<HashKey> {
        let bytes = hex::decode(hex_key.trim()).context("the secret key is not hex")?;
        let Ok(key) = <[u8; 32]>::try_from(bytes.as_slice()) else {
            bail!(
                "the secret key must be 32 bytes (64 hex characters), not {}",
                bytes.len()
            );
        };
        Ok(HashKey(key))
    }

    /// Reads the key file, or creates it with a random key (readable by the owner only).
    pub fn load_or_create(path: &Path) -> Result<HashKey> {
        if path.exists() {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read key file {}", path.display()))?;
            return HashKey::from_hex(&text)
                .with_context(|| format!("key file {}", path.display()));
        }
        let key: [u8; 32] = rand::random();
        write_private(path, &hex::encode(key))?;
        tracing::info!(path = %path.display(), "created a new secret key file");
        Ok(HashKey(key))
    }

    /// A value the database keeps to tell at start whether this is the key it was made
    /// with (a keyed hash of a constant: it reveals nothing of the key).
    pub fn check(&self) -> Vec<u8> {
        check_value(&self.0)
    }

    pub fn hash(&self, url: &WebhookUrl) -> WebhookHash {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("any key length works");
        mac.update(url.as_str().as_bytes());
        WebhookHash(mac.finalize().into_bytes().into())
    }
}

/// HMAC-SHA256 of a fixed text under `key`.
pub(crate) fn check_value(key: &[u8; 32]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length works");
    mac.update(b"connector key check");
    mac.finalize().into_bytes().to_vec()
}

/// Writes a secret file readable by its owner only.
pub(crate) fn write_private(path: &Path, text: &str) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, text)
        .with_context(|| format!("cannot write key file {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

impl std::fmt::Debug for HashKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HashKey(…)")
    }
}

impl WebhookHash {
    /// Compares in constant time, so timing tells nothing about how much matched.
    pub fn matches(&self, other: &WebhookHash) -> bool {
        self.0
            .iter()
            .zip(other.0.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_url_hashes_alike_and_others_do_not() {
        let key = HashKey::from_hex(&"ab".repeat(32)).unwrap();
        let a = WebhookUrl::trusted("https://a.webhook.office.com/x".into());
        let b = WebhookUrl::trusted("https://a.webhook.office.com/y".into());
        assert!(key.hash(&a).matches(&key.hash(&a)));
        assert!(!key.hash(&a).matches(&key.hash(&b)));
        let other = HashKey::from_hex(&"cd".repeat(32)).unwrap();
        assert!(!key.hash(&a).matches(&other.hash(&a)));
    }

    #[test]
    fn bad_keys_are_refused() {
        assert!(HashKey::from_hex("zz").is_err());
        assert!(HashKey::from_hex("abcd")
            .unwrap_err()
            .to_string()
            .contains("32 bytes"));
    }

    #[test]
    fn a_key_file_is_created_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.key");
        let a = HashKey::load_or_create(&path).unwrap();
        let b = HashKey::load_or_create(&path).unwrap();
        assert_eq!(a.0, b.0);
    }
}

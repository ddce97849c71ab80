//! The server's hash key and the keyed hash (HMAC-SHA256) through which webhook URLs and
//! edit keys are compared, so a stolen database cannot be matched against guessed values.

use std::path::Path;

use anyhow::{bail, Context, Result};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{WebhookIdentity, WebhookUrl};

/// Domain separation: an edit key's hash can never equal a webhook URL's (a URL holds no
/// NUL byte), nor a webhook identity's.
const EDIT_KEY_DOMAIN: &[u8] = b"connector edit key\0";
const IDENTITY_DOMAIN: &[u8] = b"connector webhook identity\0";

/// The 32-byte key.
#[derive(Clone)]
pub struct HashKey([u8; 32]);

/// A webhook URL's keyed hash.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookHash(pub [u8; 32]);

impl HashKey {
    /// From 64 hex characters.
    pub fn from_hex(hex_key: &str) -> Result<HashKey> {
        let bytes = hex::decode(hex_key.trim()).context("the hash key is not hex")?;
        let Ok(key) = <[u8; 32]>::try_from(bytes.as_slice()) else {
            bail!(
                "the hash key must be 32 bytes (64 hex characters), not {}",
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
        tracing::info!(path = %path.display(), "created a new hash key file");
        Ok(HashKey(key))
    }

    /// A value the database keeps to tell at start whether this is the key it was made
    /// with (a keyed hash of a constant: it reveals nothing of the key).
    pub fn check(&self) -> Vec<u8> {
        check_value(&self.0)
    }

    fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("any key length works");
        for p in parts {
            mac.update(p);
        }
        mac.finalize().into_bytes().into()
    }

    /// A key of its own for `domain` (e.g. account proofs), so no value made with it can
    /// stand for a hash made with this key, nor the other way round.
    pub fn derive(&self, domain: &[u8]) -> [u8; 32] {
        self.mac(&[b"connector derived key\0", domain])
    }

    pub fn hash(&self, url: &WebhookUrl) -> WebhookHash {
        WebhookHash(self.mac(&[url.as_str().as_bytes()]))
    }

    /// What is stored of an edit key.
    pub fn hash_edit_key(&self, key: &EditKey) -> EditKeyHash {
        EditKeyHash(self.mac(&[EDIT_KEY_DOMAIN, key.0.as_bytes()]))
    }

    /// Keyed hash of (tenant, group, webhook id), so two forms of one webhook URL are
    /// compared in constant time like the URLs themselves.
    pub fn hash_identity(&self, id: &WebhookIdentity) -> WebhookHash {
        let text = format!("{}\n{}\n{}", id.tenant, id.group, id.id);
        WebhookHash(self.mac(&[IDENTITY_DOMAIN, text.as_bytes()]))
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

/// A connection's edit key: 256 random bits as 64 hex characters. It proves the editor
/// where Teams hands the page no webhook URL (a tab): made when the connection is created,
/// returned once, kept by Teams in the settings the page saved, and stored here only as a
/// keyed hash.
#[derive(Clone, PartialEq, Eq)]
pub struct EditKey(String);

/// The stored keyed hash of an [`EditKey`].
#[derive(Clone, PartialEq, Eq)]
pub struct EditKeyHash(pub [u8; 32]);

impl EditKey {
    /// A new key from the operating system's CSPRNG.
    pub fn generate() -> EditKey {
        use rand::RngCore;
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        EditKey(hex::encode(bytes))
    }

    /// A key as the page sends it; anything but 64 hex characters is no key.
    pub fn parse(s: &str) -> Option<EditKey> {
        let s = s.trim();
        (s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| EditKey(s.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for EditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EditKey(…)")
    }
}

impl std::fmt::Debug for EditKeyHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EditKeyHash(…)")
    }
}

impl EditKeyHash {
    /// Compares in constant time.
    pub fn matches(&self, other: &EditKeyHash) -> bool {
        constant_time_eq(&self.0, &other.0)
    }
}

/// Stored hashes against each other (no MAC state to `verify_slice` with): `subtle`, the
/// comparison `hmac` itself uses.
fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    use subtle::ConstantTimeEq;
    a.ct_eq(b).into()
}

impl std::fmt::Debug for HashKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HashKey(…)")
    }
}

impl std::fmt::Debug for WebhookHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookHash(…)")
    }
}

impl WebhookHash {
    /// Compares in constant time, so timing tells nothing about how much matched.
    pub fn matches(&self, other: &WebhookHash) -> bool {
        constant_time_eq(&self.0, &other.0)
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

    #[test]
    fn edit_keys_are_random_hex_and_hash_apart_from_urls() {
        let key = HashKey::from_hex(&"ab".repeat(32)).unwrap();
        let a = EditKey::generate();
        let b = EditKey::generate();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 64);
        assert_eq!(EditKey::parse(&a.as_str().to_uppercase()), Some(a.clone()));
        assert!(EditKey::parse("abc").is_none());
        assert!(EditKey::parse(&"g".repeat(64)).is_none());
        assert!(key.hash_edit_key(&a).matches(&key.hash_edit_key(&a)));
        assert!(!key.hash_edit_key(&a).matches(&key.hash_edit_key(&b)));
        // The same text as a URL and as a key hashes differently.
        let as_url = WebhookUrl::trusted(a.as_str().into());
        assert_ne!(key.hash(&as_url).0, key.hash_edit_key(&a).0);
        assert_eq!(format!("{a:?}"), "EditKey(…)");
    }
}

//! The proof that a Teams user signed in to an account of the service: what
//! `POST /api/account/link` answers and a save hands back, signed by the server so the
//! page cannot make one up, valid for ten minutes and bound to the tenant and user it was
//! made for.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::domain::HashKey;

/// How long a proof stays good: time to fill in the form after signing in.
pub const VALID_SECS: i64 = 600;

/// What a proof says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub account: String,
    pub name: String,
    /// The Teams tenant and user the link request named (or its sign-in token's).
    pub tenant: Option<String>,
    pub user: Option<String>,
    /// Unix seconds.
    pub exp: i64,
}

/// Signs and checks proofs with a key derived from the server's hash key.
#[derive(Clone)]
pub struct ProofKey([u8; 32]);

impl ProofKey {
    pub fn new(key: &HashKey) -> ProofKey {
        ProofKey(key.derive(b"account proof"))
    }

    fn mac(&self, payload: &str) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("any key length works");
        mac.update(payload.as_bytes());
        mac
    }

    /// `base64url(JSON claims) . base64url(HMAC-SHA256 of the first part)`.
    pub fn sign(&self, claims: &Claims) -> String {
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("claims serialize"));
        let tag = URL_SAFE_NO_PAD.encode(self.mac(&payload).finalize().into_bytes());
        format!("{payload}.{tag}")
    }

    /// The claims of a proof this server made that has not expired at `now` (unix seconds);
    /// the error says why not, for the person.
    pub fn verify(&self, proof: &str, now: i64) -> Result<Claims, String> {
        let refused = "the account proof was not made by this server: sign in again";
        let (payload, tag) = proof.split_once('.').ok_or(refused)?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| refused)?;
        // Compared in constant time by the MAC itself.
        self.mac(payload).verify_slice(&tag).map_err(|_| refused)?;
        let claims: Claims = URL_SAFE_NO_PAD
            .decode(payload)
            .ok()
            .and_then(|json| serde_json::from_slice(&json).ok())
            .ok_or(refused)?;
        if claims.exp <= now {
            return Err(
                "the account proof has expired (a sign-in is good for 10 minutes): sign in again"
                    .into(),
            );
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: &str) -> ProofKey {
        ProofKey::new(&HashKey::from_hex(&byte.repeat(32)).unwrap())
    }

    fn claims(exp: i64) -> Claims {
        Claims {
            account: "acme".into(),
            name: "Alice Example".into(),
            tenant: Some("t1".into()),
            user: Some("u1".into()),
            exp,
        }
    }

    #[test]
    fn a_proof_verifies_until_it_expires() {
        let k = key("ab");
        let proof = k.sign(&claims(1_000 + VALID_SECS));
        assert_eq!(k.verify(&proof, 1_000).unwrap(), claims(1_000 + VALID_SECS));
        let err = k.verify(&proof, 1_000 + VALID_SECS).unwrap_err();
        assert!(err.contains("expired"), "{err}");
    }

    #[test]
    fn a_changed_or_foreign_proof_is_refused() {
        let k = key("ab");
        let proof = k.sign(&claims(2_000));
        assert!(
            key("cd").verify(&proof, 1_000).is_err(),
            "another server's key"
        );
        // Another account in the payload, with the old tag.
        let mut other = claims(2_000);
        other.account = "globex".into();
        let forged_payload = k.sign(&other).split_once('.').unwrap().0.to_string();
        let tag = proof.split_once('.').unwrap().1;
        let err = k
            .verify(&format!("{forged_payload}.{tag}"), 1_000)
            .unwrap_err();
        assert!(err.contains("not made by this server"), "{err}");
        for junk in ["", "x", "a.b", &format!("{proof}x")] {
            assert!(k.verify(junk, 1_000).is_err(), "{junk}");
        }
    }

    #[test]
    fn the_proof_key_is_not_the_hash_key() {
        let hash = HashKey::from_hex(&"ab".repeat(32)).unwrap();
        assert_ne!(ProofKey::new(&hash).0, [0xab; 32]);
        assert_ne!(ProofKey::new(&hash).0, hash.derive(b"something else"));
    }
}

//! Accounts of the sending service (`[account]` in `connector.toml`): the person signs in to
//! the service in Teams' popup, the server exchanges the code and checks the ID token, and
//! answers with a short proof that the save then carries, so a connection is linked to the
//! account that person may see, and addressed events reach only that account's connections.

pub mod oidc;
pub mod proof;

use connector_settings::api::{AccountInfo, ConnectionAccount, LinkAccount, LinkedAccount};
use connector_settings::{AccountSpec, Locale};
use serde_json::Value;

use crate::auth::Identity;
use crate::domain::HashKey;
use oidc::{LinkError, Provider};
use proof::{Claims, ProofKey};

/// What the server needs of `[account]`, with the issuer and client id the flags may
/// override and the client secret from the environment.
pub struct Accounts {
    spec: &'static AccountSpec,
    provider: Provider,
    proofs: ProofKey,
}

/// Who a link or a save is for in Teams: the sign-in token's identity, else what the page
/// said (`userObjectId`, `tid` from `getContext`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamsUser {
    pub tenant: Option<String>,
    pub user: Option<String>,
}

impl TeamsUser {
    pub fn of(identity: Option<&Identity>, tenant: Option<&str>, user: Option<&str>) -> Self {
        match identity {
            Some(i) => TeamsUser {
                tenant: Some(i.tenant.clone()),
                user: Some(i.user.clone()),
            },
            None => TeamsUser {
                tenant: tenant.map(str::to_string),
                user: user.map(str::to_string),
            },
        }
    }
}

/// Why a save's proof is refused.
#[derive(Debug, PartialEq, Eq)]
pub enum ProofError {
    /// Not this server's, or expired.
    Invalid(String),
    /// Made for another tenant or user than the save's.
    Mismatch(String),
}

impl Accounts {
    pub fn new(
        spec: &'static AccountSpec,
        issuer: &str,
        client_id: &str,
        client_secret: &str,
        key: &HashKey,
    ) -> Accounts {
        Accounts {
            spec,
            provider: Provider::new(issuer, client_id, client_secret),
            proofs: ProofKey::new(key),
        }
    }

    pub fn issuer(&self) -> &str {
        self.provider.issuer()
    }

    /// Fetches the discovery document now, so a wrong issuer shows in the log at start; the
    /// server starts all the same (and tries again on use).
    pub async fn warm_up(&self) {
        match self.provider.discovered().await {
            Ok(_) => {
                tracing::info!(issuer = %self.issuer(), "accounts: discovery document fetched")
            }
            Err(e) => {
                tracing::warn!(issuer = %self.issuer(), error = ?e, "accounts: cannot fetch the discovery document now; it is fetched again on use")
            }
        }
    }

    /// What the sign-in popup needs.
    pub async fn info(&self) -> Result<AccountInfo, LinkError> {
        let d = self.provider.discovered().await?;
        Ok(AccountInfo {
            service: self.spec.service.get(Locale::En).to_string(),
            authorization_endpoint: d.authorization_endpoint.clone(),
            client_id: self.provider.client_id().to_string(),
            scopes: self.spec.scopes.iter().map(|s| s.to_string()).collect(),
        })
    }

    /// Exchanges the popup's code, checks the ID token and makes a proof for `teams`.
    pub async fn link(
        &self,
        body: &LinkAccount,
        teams: TeamsUser,
        now: i64,
    ) -> Result<LinkedAccount, LinkError> {
        let id_token = self
            .provider
            .exchange(&body.code, &body.code_verifier, &body.redirect_uri)
            .await?;
        let claims = self.provider.validate(&id_token, &body.nonce).await?;
        let account = claim(&claims, self.spec.account_claim)?;
        let name = claim(&claims, self.spec.name_claim)?;
        let exp = now + proof::VALID_SECS;
        let proof = self.proofs.sign(&Claims {
            account: account.clone(),
            name: name.clone(),
            tenant: teams.tenant,
            user: teams.user,
            exp,
        });
        let expires_at = time::OffsetDateTime::from_unix_timestamp(exp)
            .ok()
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_default();
        Ok(LinkedAccount {
            account,
            name,
            proof,
            expires_at,
        })
    }

    /// The account a save's proof links, if it is this server's, unexpired, and for the
    /// save's Teams user (and tenant, when the save knows it).
    pub fn check_proof(
        &self,
        proof: &str,
        save: &TeamsUser,
        now: i64,
    ) -> Result<ConnectionAccount, ProofError> {
        let claims = self
            .proofs
            .verify(proof, now)
            .map_err(ProofError::Invalid)?;
        let tenant_differs = save.tenant.is_some() && claims.tenant != save.tenant;
        if tenant_differs || claims.user != save.user {
            return Err(ProofError::Mismatch(format!(
                "this sign-in to {} was made for another Teams user or organisation than this save's: sign in again here",
                self.spec.service.get(Locale::En)
            )));
        }
        Ok(ConnectionAccount {
            account: claims.account,
            name: claims.name,
            linked_by: claims.user,
        })
    }

    /// "Sign in to <service> first".
    pub fn required_message(&self) -> String {
        format!(
            "sign in to {} first: a connection gets the events of one account",
            self.spec.service.get(Locale::En)
        )
    }
}

/// A claim's value as text (numbers too: some services number their organisations).
fn claim(claims: &serde_json::Map<String, Value>, name: &str) -> Result<String, LinkError> {
    let missing = || {
        LinkError::ClaimMissing(format!(
            "the ID token has no claim '{name}' (ask the service to include it, or change [account] in connector.toml)"
        ))
    };
    match claims.get(name) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        _ => Err(missing()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    static SPEC: AccountSpec = AccountSpec {
        service: connector_settings::Text(&[("en", "Uptime Watch")]),
        issuer: "https://id.example.org",
        client_id: "teams-app",
        scopes: &["openid", "profile"],
        account_claim: "org",
        name_claim: "name",
    };

    fn accounts() -> Accounts {
        let key = HashKey::from_hex(&"ab".repeat(32)).unwrap();
        Accounts::new(&SPEC, SPEC.issuer, SPEC.client_id, "s", &key)
    }

    fn user(tenant: Option<&str>, user: Option<&str>) -> TeamsUser {
        TeamsUser::of(None, tenant, user)
    }

    fn proof_for(a: &Accounts, teams: TeamsUser, exp: i64) -> String {
        a.proofs.sign(&Claims {
            account: "acme".into(),
            name: "Alice".into(),
            tenant: teams.tenant,
            user: teams.user,
            exp,
        })
    }

    #[test]
    fn a_proof_links_its_account_for_the_same_user_only() {
        let a = accounts();
        let alice = user(Some("t1"), Some("u-alice"));
        let proof = proof_for(&a, alice.clone(), 1_600);
        let linked = a.check_proof(&proof, &alice, 1_000).unwrap();
        assert_eq!(linked.account, "acme");
        assert_eq!(linked.linked_by.as_deref(), Some("u-alice"));
        // A save that knows no tenant (no single sign-on) compares the user only.
        assert!(a
            .check_proof(&proof, &user(None, Some("u-alice")), 1_000)
            .is_ok());
        for other in [
            user(Some("t1"), Some("u-bob")),
            user(Some("t2"), Some("u-alice")),
            user(None, None),
        ] {
            assert!(
                matches!(
                    a.check_proof(&proof, &other, 1_000),
                    Err(ProofError::Mismatch(_))
                ),
                "{other:?}"
            );
        }
        assert!(matches!(
            a.check_proof(&proof, &alice, 1_600),
            Err(ProofError::Invalid(m)) if m.contains("expired")
        ));
    }

    #[test]
    fn a_single_sign_on_identity_outranks_what_the_page_says() {
        let sso = Identity {
            tenant: "t-real".into(),
            user: "u-real".into(),
        };
        let teams = TeamsUser::of(Some(&sso), Some("t-said"), Some("u-said"));
        assert_eq!(teams, user(Some("t-real"), Some("u-real")));
    }

    #[test]
    fn the_account_claim_is_read_as_text_or_named_when_missing() {
        let claims = json!({ "org": "acme", "num": 42, "empty": " " });
        let claims = claims.as_object().unwrap();
        assert_eq!(claim(claims, "org").unwrap(), "acme");
        assert_eq!(claim(claims, "num").unwrap(), "42");
        for missing in ["empty", "tenant"] {
            let Err(LinkError::ClaimMissing(m)) = claim(claims, missing) else {
                panic!("{missing}")
            };
            assert!(m.contains(&format!("'{missing}'")), "{m}");
        }
    }
}

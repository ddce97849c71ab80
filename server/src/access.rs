//! Who may read, change or remove a stored connection, decided from what a request proves:
//! the connection's edit key, the webhook URL Teams handed the page, and with single sign-on
//! the token's tenant. Pure decisions, tested without a network; the README's security
//! section gives the reasoning.

use crate::auth::Identity;
use crate::domain::{EditKey, HashKey, WebhookUrl};
use crate::store::Record;

/// What a request presents.
#[derive(Debug, Default)]
pub struct Proof<'a> {
    /// The webhook URL header (or body, when saving), parsed; `Err` when one was sent that
    /// does not parse.
    pub webhook: Option<Result<&'a WebhookUrl, ()>>,
    /// The edit key header; `Err` when one was sent that is no key at all.
    pub edit_key: Option<Result<&'a EditKey, ()>>,
    /// The single sign-on token's identity, when the server uses single sign-on.
    pub identity: Option<&'a Identity>,
}

/// Why the editor is accepted.
#[derive(Debug, PartialEq, Eq)]
pub enum Grant {
    /// The edit key, and no webhook URL presented: the stored one stays.
    Key,
    /// The presented URL is the stored webhook, maybe in another form; `newer` when its
    /// form is newer than the stored one's (which it then replaces).
    SameWebhook { newer: bool },
    /// Another webhook, the editor proven by the edit key or (for a webhook of the same
    /// team) by a token of its tenant: saving moves the connection to it.
    NewWebhook,
}

/// Why not.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Neither an edit key nor a webhook URL.
    NoCredential,
    /// An edit key that is not this connection's.
    WrongKey,
    /// Not this connection's webhook, and nothing else proves the editor.
    OtherWebhook,
    /// The editor is proven, but the webhook URL belongs to another team's channel.
    WebhookOtherTeam,
    /// The editor is proven, but the webhook URL belongs to another organisation.
    WebhookOtherTenant,
    /// The sign-in token is from another organisation than the connection.
    OtherTenant,
}

/// The tenant a connection belongs to: the one single sign-on bound it to, else the one in
/// its connector webhook URL.
fn tenant_of(record: &Record) -> Option<&str> {
    record
        .tenant_id
        .as_deref()
        .or_else(|| record.webhook_url.tenant())
}

/// The rule. With single sign-on a token of another tenant is refused first. Then the edit
/// key, when sent, must be the connection's. Then the webhook URL, when sent:
/// - the stored webhook, in any of its forms, is accepted (the newer form wins);
/// - a connector webhook of another tenant or team never is; with a valid edit key the
///   refusal says which, without one it is answered like any other webhook;
/// - another webhook of the same team needs the edit key or a token of that tenant;
/// - an opaque (Workflows) URL needs the edit key.
pub fn decide(record: &Record, proof: &Proof, key: &HashKey) -> Result<Grant, Refusal> {
    if let (Some(who), Some(tenant)) = (proof.identity, tenant_of(record)) {
        if !who.tenant.eq_ignore_ascii_case(tenant) {
            return Err(Refusal::OtherTenant);
        }
    }
    let key_ok = match proof.edit_key {
        None => false,
        Some(Ok(k)) => match &record.edit_key_hash {
            Some(stored) if key.hash_edit_key(k).matches(stored) => true,
            _ => return Err(Refusal::WrongKey),
        },
        Some(Err(())) => return Err(Refusal::WrongKey),
    };
    let webhook = match proof.webhook {
        None if key_ok => return Ok(Grant::Key),
        None => return Err(Refusal::NoCredential),
        Some(Err(())) => return Err(Refusal::OtherWebhook),
        Some(Ok(w)) => w,
    };
    if key.hash(webhook).matches(&record.webhook_hash) {
        return Ok(Grant::SameWebhook { newer: false });
    }
    let stored = &record.webhook_url;
    let refuse = |proven: Refusal| {
        Err(if key_ok {
            proven
        } else {
            Refusal::OtherWebhook
        })
    };
    match (webhook.identity(), stored.identity()) {
        (Some(new), Some(old)) => {
            if key.hash_identity(new).matches(&key.hash_identity(old)) {
                return Ok(Grant::SameWebhook {
                    newer: new.form > old.form,
                });
            }
            if new.tenant != old.tenant {
                return refuse(Refusal::WebhookOtherTenant);
            }
            if new.group != old.group {
                return refuse(Refusal::WebhookOtherTeam);
            }
            let token_of_tenant = proof
                .identity
                .is_some_and(|who| who.tenant.eq_ignore_ascii_case(&new.tenant));
            if key_ok || token_of_tenant {
                Ok(Grant::NewWebhook)
            } else {
                Err(Refusal::OtherWebhook)
            }
        }
        _ => {
            // At least one side is opaque: only the edit key proves the editor, and a
            // connector URL still must not name another tenant than the connection's.
            if let (Some(new), Some(tenant)) = (webhook.tenant(), tenant_of(record)) {
                if !new.eq_ignore_ascii_case(tenant) {
                    return refuse(Refusal::WebhookOtherTenant);
                }
            }
            if key_ok {
                Ok(Grant::NewWebhook)
            } else {
                Err(Refusal::OtherWebhook)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{WebhookPolicy, DEFAULT_HOSTS};

    const T: &str = "72f9bf00-0000-4000-8000-000000000001";

    fn key() -> HashKey {
        HashKey::from_hex(&"ab".repeat(32)).unwrap()
    }

    fn url(s: &str) -> WebhookUrl {
        let hosts: Vec<String> = DEFAULT_HOSTS.iter().map(|h| h.to_string()).collect();
        WebhookUrl::parse(s, &WebhookPolicy::new(&hosts, None).unwrap()).unwrap()
    }

    fn hook(tenant: &str, group: &str, id: &str) -> String {
        format!(
            "https://contoso.webhook.office.com/webhookb2/{group}@{tenant}/IncomingWebhook/{id}/u"
        )
    }

    fn record(webhook: &str, edit: Option<&EditKey>, tenant: Option<&str>) -> Record {
        let w = url(webhook);
        Record {
            entity_id: connector_settings::EntityId::parse("c1").unwrap(),
            webhook_hash: key().hash(&w),
            webhook_url: w,
            config_name: "x".into(),
            settings: Default::default(),
            app_type: None,
            tenant_id: tenant.map(str::to_string),
            owner_oid: None,
            disabled_reason: None,
            user_object_id: None,
            created_at: String::new(),
            updated_at: String::new(),
            edit_key_hash: edit.map(|k| key().hash_edit_key(k)),
        }
    }

    fn check(
        r: &Record,
        webhook: Option<&str>,
        edit: Option<&EditKey>,
        who: Option<&Identity>,
    ) -> Result<Grant, Refusal> {
        let w = webhook.map(url);
        let proof = Proof {
            webhook: w.as_ref().map(Ok),
            edit_key: edit.map(Ok),
            identity: who,
        };
        decide(r, &proof, &key())
    }

    #[test]
    fn the_edit_key_alone_reads_and_a_wrong_or_missing_one_does_not() {
        let k = EditKey::generate();
        let r = record(&hook(T, "g", "1"), Some(&k), None);
        assert_eq!(check(&r, None, Some(&k), None), Ok(Grant::Key));
        assert_eq!(
            check(&r, None, Some(&EditKey::generate()), None),
            Err(Refusal::WrongKey)
        );
        assert_eq!(
            check(
                &r,
                Some(&hook(T, "g", "1")),
                Some(&EditKey::generate()),
                None
            ),
            Err(Refusal::WrongKey),
            "a wrong key is never outweighed"
        );
        assert_eq!(check(&r, None, None, None), Err(Refusal::NoCredential));
        let malformed = Proof {
            edit_key: Some(Err(())),
            ..Proof::default()
        };
        assert_eq!(decide(&r, &malformed, &key()), Err(Refusal::WrongKey));
        let legacy = record(&hook(T, "g", "1"), None, None);
        assert_eq!(
            check(&legacy, None, Some(&k), None),
            Err(Refusal::WrongKey),
            "no key stored: no key matches"
        );
    }

    #[test]
    fn each_form_of_the_stored_webhook_is_the_same_and_the_newer_wins() {
        let b2 = hook(T, "g", "abc");
        let r = record(&b2, None, None);
        let legacy = format!("https://outlook.office.com/webhook/g@{T}/IncomingWebhook/abc/u");
        assert_eq!(
            check(&r, Some(&b2), None, None),
            Ok(Grant::SameWebhook { newer: false })
        );
        assert_eq!(
            check(&r, Some(&legacy), None, None),
            Ok(Grant::SameWebhook { newer: false })
        );
        assert_eq!(
            check(&r, Some(&format!("{b2}/V2xyz")), None, None),
            Ok(Grant::SameWebhook { newer: true })
        );
        let old = record(&legacy, None, None);
        assert_eq!(
            check(&old, Some(&b2), None, None),
            Ok(Grant::SameWebhook { newer: true })
        );
    }

    #[test]
    fn a_new_webhook_of_the_same_team_needs_the_key_or_a_token_of_the_tenant() {
        let k = EditKey::generate();
        let r = record(&hook(T, "g", "1"), Some(&k), None);
        let new = hook(T, "g", "2");
        assert_eq!(
            check(&r, Some(&new), None, None),
            Err(Refusal::OtherWebhook)
        );
        assert_eq!(check(&r, Some(&new), Some(&k), None), Ok(Grant::NewWebhook));
        let ours = Identity {
            tenant: T.to_uppercase(),
            user: "u".into(),
        };
        assert_eq!(
            check(&r, Some(&new), None, Some(&ours)),
            Ok(Grant::NewWebhook)
        );
        let theirs = Identity {
            tenant: "other".into(),
            user: "u".into(),
        };
        assert_eq!(
            check(&r, Some(&new), Some(&k), Some(&theirs)),
            Err(Refusal::OtherTenant)
        );
    }

    #[test]
    fn another_team_or_tenant_never_gets_in_and_only_the_key_holder_hears_why() {
        let k = EditKey::generate();
        let r = record(&hook(T, "g", "1"), Some(&k), None);
        let team = hook(T, "other-team", "2");
        let tenant = hook("other-tenant", "g", "2");
        assert_eq!(
            check(&r, Some(&team), Some(&k), None),
            Err(Refusal::WebhookOtherTeam)
        );
        assert_eq!(
            check(&r, Some(&tenant), Some(&k), None),
            Err(Refusal::WebhookOtherTenant)
        );
        assert_eq!(
            check(&r, Some(&team), None, None),
            Err(Refusal::OtherWebhook)
        );
        assert_eq!(
            check(&r, Some(&tenant), None, None),
            Err(Refusal::OtherWebhook)
        );
        // A token of the other tenant proves nothing here either.
        let theirs = Identity {
            tenant: "other-tenant".into(),
            user: "u".into(),
        };
        assert_eq!(
            check(&r, Some(&tenant), None, Some(&theirs)),
            Err(Refusal::OtherTenant)
        );
    }

    #[test]
    fn workflows_urls_are_opaque_so_only_the_edit_key_moves_them() {
        let k = EditKey::generate();
        let flow = "https://prod-1.westeurope.logic.azure.com/workflows/a/triggers/manual/paths/invoke?sig=1";
        let other = "https://prod-1.westeurope.logic.azure.com/workflows/b/triggers/manual/paths/invoke?sig=2";
        let r = record(flow, Some(&k), Some(T));
        assert_eq!(
            check(&r, Some(flow), None, None),
            Ok(Grant::SameWebhook { newer: false })
        );
        assert_eq!(
            check(&r, Some(other), None, None),
            Err(Refusal::OtherWebhook)
        );
        assert_eq!(
            check(&r, Some(other), Some(&k), None),
            Ok(Grant::NewWebhook)
        );
        let ours = Identity {
            tenant: T.into(),
            user: "u".into(),
        };
        assert_eq!(
            check(&r, Some(other), None, Some(&ours)),
            Err(Refusal::OtherWebhook),
            "a token alone does not move an opaque webhook"
        );
        // A connector URL naming another tenant than the one the connection is bound to.
        assert_eq!(
            check(&r, Some(&hook("elsewhere", "g", "1")), Some(&k), None),
            Err(Refusal::WebhookOtherTenant)
        );
        assert_eq!(
            check(&r, Some(&hook(T, "g", "1")), Some(&k), None),
            Ok(Grant::NewWebhook)
        );
    }
}

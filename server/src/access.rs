//! Who may read, change or remove a stored connection, decided from what a request proves:
//! the connection's edit key, the webhook URL Teams handed the page, and with single sign-on
//! the token's tenant. Pure decisions, tested without a network; the README's security
//! section gives the reasoning.

use crate::auth::Identity;
use crate::domain::{EditKey, HashKey, WebhookKind, WebhookUrl};
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
    /// The presented URL is the stored webhook, maybe in another form; `replaces` when it is
    /// to be stored instead: not an older form, and the editor proven by the edit key or a
    /// token of the tenant (a form's `V2` token or host name cannot be checked).
    SameWebhook { replaces: bool },
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
    /// A URL on a connector host whose ids cannot be read: it names no webhook and no team,
    /// so it is never the stored webhook nor one a connection moves to.
    UnreadableConnector,
    /// The editor is proven, but the webhook URL belongs to another team's channel.
    WebhookOtherTeam,
    /// The editor is proven, but the webhook URL belongs to another organisation.
    WebhookOtherTenant,
    /// The sign-in token is from another organisation than the connection.
    OtherTenant,
}

/// The tenant a connection belongs to: the one single sign-on bound it to, else the one of
/// the team it was added in, else the one in its connector webhook URL.
pub fn tenant_of(record: &Record) -> Option<&str> {
    record
        .tenant_id
        .as_deref()
        .or_else(|| record.team.as_ref().map(|t| t.tenant.as_str()))
        .or_else(|| record.webhook_url.tenant())
}

/// The rule (the README's list, rules 1–6). With single sign-on a token of another tenant
/// is refused first. Then the edit key, when sent, must be the connection's. Then the
/// webhook URL, when sent:
/// - the stored URL itself is accepted;
/// - a connector URL of another tenant or team than the one the connection was added in
///   never is, whatever URL it has now; with a valid edit key the refusal says which,
///   without one it is answered like any other webhook;
/// - another form of the stored webhook (same tenant, group, id and user segment) is
///   accepted, and replaces the stored URL only when newer and the editor is proven;
/// - another webhook of the same team needs the edit key or a token of that tenant;
/// - an opaque (Workflows) URL, or a move away from one, needs the edit key;
/// - a connector URL whose ids cannot be read is refused.
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
        return Ok(Grant::SameWebhook { replaces: false });
    }
    let only_key = || {
        if key_ok {
            Ok(Grant::NewWebhook)
        } else {
            Err(Refusal::OtherWebhook)
        }
    };
    let Some(new) = webhook.identity() else {
        if matches!(webhook.kind(), WebhookKind::Connector) {
            return Err(Refusal::UnreadableConnector);
        }
        return only_key();
    };
    let refuse = |proven: Refusal| {
        Err(if key_ok {
            proven
        } else {
            Refusal::OtherWebhook
        })
    };
    // The team it was added in decides, not the URL it has now: a connection that moved
    // to a Workflows URL still belongs to its team.
    if let Some(team) = &record.team {
        if new.tenant != team.tenant {
            return refuse(Refusal::WebhookOtherTenant);
        }
        if new.group != team.group {
            return refuse(Refusal::WebhookOtherTeam);
        }
    }
    if let Some(tenant) = tenant_of(record) {
        if !new.tenant.eq_ignore_ascii_case(tenant) {
            return refuse(Refusal::WebhookOtherTenant);
        }
    }
    let proven = key_ok
        || proof
            .identity
            .is_some_and(|who| who.tenant.eq_ignore_ascii_case(&new.tenant));
    match record.webhook_url.identity() {
        Some(old)
            if key.hash_identity(new).matches(&key.hash_identity(old)) && new.user == old.user =>
        {
            Ok(Grant::SameWebhook {
                replaces: proven && new.form >= old.form,
            })
        }
        // Another webhook of the same team (or the same one under another user segment).
        Some(_) if proven => Ok(Grant::NewWebhook),
        Some(_) => Err(Refusal::OtherWebhook),
        // Away from an opaque URL: a token proves the tenant, not who set the tab up.
        None => only_key(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{WebhookPolicy, DEFAULT_HOSTS};
    use crate::store::Team;

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
            team: w.identity().map(Team::of),
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
            account: None,
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
    fn each_form_of_the_stored_webhook_is_the_same_and_a_newer_one_replaces_it_only_when_proven() {
        let k = EditKey::generate();
        let b2 = hook(T, "g", "abc");
        let r = record(&b2, Some(&k), None);
        let legacy = format!("https://outlook.office.com/webhook/g@{T}/IncomingWebhook/abc/u");
        let v2 = format!("{b2}/V2xyz");
        let same = |replaces| Ok(Grant::SameWebhook { replaces });
        assert_eq!(check(&r, Some(&b2), None, None), same(false));
        assert_eq!(check(&r, Some(&legacy), None, None), same(false));
        assert_eq!(check(&r, Some(&legacy), Some(&k), None), same(false));
        assert_eq!(
            check(&r, Some(&v2), None, None),
            same(false),
            "a V2 token cannot be checked: it reads but is not stored"
        );
        assert_eq!(check(&r, Some(&v2), Some(&k), None), same(true));
        let ours = Identity {
            tenant: T.into(),
            user: "u".into(),
        };
        assert_eq!(check(&r, Some(&v2), None, Some(&ours)), same(true));
        let old = record(&legacy, Some(&k), None);
        assert_eq!(check(&old, Some(&b2), None, None), same(false));
        assert_eq!(check(&old, Some(&b2), Some(&k), None), same(true));
        let stored_v2 = record(&v2, Some(&k), None);
        assert_eq!(
            check(&stored_v2, Some(&format!("{b2}/V2other")), Some(&k), None),
            same(true),
            "another V2 token, proven"
        );
    }

    #[test]
    fn another_user_segment_is_not_the_stored_webhook_and_an_unreadable_connector_url_nothing() {
        let k = EditKey::generate();
        let b2 = hook(T, "g", "abc");
        let r = record(&b2, Some(&k), None);
        let other_user = b2.replace("/u", "/someone-else");
        assert_eq!(
            check(&r, Some(&other_user), None, None),
            Err(Refusal::OtherWebhook)
        );
        assert_eq!(
            check(&r, Some(&other_user), Some(&k), None),
            Ok(Grant::NewWebhook),
            "with the key it is a webhook of the same team"
        );
        for unreadable in [
            format!("{b2}/V2x/more"),
            format!("{b2}/"),
            format!("{b2}/x"),
        ] {
            assert_eq!(
                check(&r, Some(&unreadable), Some(&k), None),
                Err(Refusal::UnreadableConnector),
                "{unreadable}"
            );
        }
    }

    #[test]
    fn the_team_it_was_added_in_holds_after_a_move_to_workflows() {
        let k = EditKey::generate();
        let flow =
            "https://x.westeurope.logic.azure.com/workflows/a/triggers/manual/paths/invoke?sig=1";
        let mut r = record(flow, Some(&k), None);
        assert_eq!(
            check(&r, Some(&hook("anyone", "any", "1")), Some(&k), None),
            Ok(Grant::NewWebhook),
            "added on a Workflows URL: no team known yet"
        );
        r.team = Some(Team {
            tenant: T.into(),
            group: "g".into(),
        });
        assert_eq!(
            check(&r, Some(&hook(T, "other", "1")), Some(&k), None),
            Err(Refusal::WebhookOtherTeam)
        );
        assert_eq!(
            check(&r, Some(&hook("elsewhere", "g", "1")), Some(&k), None),
            Err(Refusal::WebhookOtherTenant)
        );
        assert_eq!(
            check(&r, Some(&hook(T, "other", "1")), None, None),
            Err(Refusal::OtherWebhook)
        );
        assert_eq!(
            check(&r, Some(&hook(T, "g", "9")), Some(&k), None),
            Ok(Grant::NewWebhook)
        );
        let ours = Identity {
            tenant: T.into(),
            user: "u".into(),
        };
        assert_eq!(
            check(&r, Some(&hook(T, "g", "9")), None, Some(&ours)),
            Err(Refusal::OtherWebhook),
            "away from an opaque URL only the key"
        );
        let theirs = Identity {
            tenant: "elsewhere".into(),
            user: "u".into(),
        };
        assert_eq!(
            check(&r, None, Some(&k), Some(&theirs)),
            Err(Refusal::OtherTenant),
            "the team's tenant is the connection's"
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
            Ok(Grant::SameWebhook { replaces: false })
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

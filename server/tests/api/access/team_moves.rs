//! The team a connection was added in survives any move: after a move to a Workflows
//! webhook, another team's or tenant's connector webhook still never reads or takes over.

use reqwest::StatusCode;
use serde_json::Value;

use super::*;
use crate::helpers::Creds;

const OTHER_GROUP: &str = "99990000-0000-4000-8000-000000000099";
const OTHER_TENANT: &str = "00000000-0000-4000-8000-0000000000ff";

/// How a connection got onto a Workflows URL before another team's webhook is presented.
#[derive(Clone, Copy, Debug)]
enum Before {
    /// Created on a connector URL, then moved to a Workflows URL with the key.
    Hop,
    /// A rebind to a new webhook of the same team first, then the hop.
    RebindThenHop,
    /// Created in the legacy form, the newer form stored, then the hop.
    FormThenHop,
    /// Stored before edit keys and before the team was kept (as an older server left it),
    /// saved once (which makes the key), then the hop.
    OlderRowThenHop,
}

/// Sets `c1` up as `before` says (no single sign-on) and returns its edit key.
async fn moved_to_workflows(s: &TestApp, before: Before) -> String {
    let one = hook(TENANT, GROUP, "aa01");
    let key = match before {
        Before::FormThenHop => {
            let legacy = format!(
                "https://outlook.office.com/webhook/{GROUP}@{TENANT}/IncomingWebhook/aa01/{USER}"
            );
            let key = s.create_as("c1", &legacy, Creds::default()).await;
            let res = s
                .put_as("c1", Some(&one), "Nightly builds", Creds::key(&key))
                .await;
            assert_eq!(res.status(), StatusCode::OK);
            key
        }
        Before::OlderRowThenHop => {
            s.create_as("c1", &one, Creds::default()).await;
            rusqlite::Connection::open(&s.db)
                .unwrap()
                .execute(
                    "UPDATE connections SET edit_key_hash = NULL, team_tenant = NULL, team_group = NULL",
                    [],
                )
                .unwrap();
            let res = s
                .put_as("c1", Some(&one), "Nightly builds", Creds::hook(&one))
                .await;
            assert_eq!(res.status(), StatusCode::OK);
            let body: Value = res.json().await.unwrap();
            body["editKey"].as_str().unwrap().to_string()
        }
        Before::Hop | Before::RebindThenHop => s.create_as("c1", &one, Creds::default()).await,
    };
    if let Before::RebindThenHop = before {
        let two = hook(TENANT, GROUP, "bb02");
        let res = s
            .put_as("c1", Some(&two), "Nightly builds", Creds::key(&key))
            .await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    let res = s
        .put_as("c1", Some(&flow("w1")), "Nightly builds", Creds::key(&key))
        .await;
    assert_eq!(res.status(), StatusCode::OK, "{before:?}: onto Workflows");
    key
}

#[tokio::test]
async fn after_a_move_to_workflows_another_teams_or_tenants_webhook_never_reads_or_takes_over() {
    for before in [
        Before::Hop,
        Before::RebindThenHop,
        Before::FormThenHop,
        Before::OlderRowThenHop,
    ] {
        let s = spawn().await;
        let key = moved_to_workflows(&s, before).await;
        for (other, code) in [
            (hook(TENANT, OTHER_GROUP, "cc03"), "webhook_other_team"),
            (hook(OTHER_TENANT, GROUP, "cc03"), "webhook_other_tenant"),
            (
                hook(OTHER_TENANT, OTHER_GROUP, "cc03"),
                "webhook_other_tenant",
            ),
        ] {
            let with_key = Creds {
                hook: Some(&other),
                key: Some(&key),
                token: None,
            };
            let res = s.get_as("c1", with_key).await;
            assert_eq!(res.status(), StatusCode::FORBIDDEN, "{before:?} GET {code}");
            assert_eq!(error_code(res).await, code, "{before:?}");
            let res = s.put_as("c1", Some(&other), "Taken over", with_key).await;
            assert_eq!(res.status(), StatusCode::FORBIDDEN, "{before:?} PUT {code}");
            assert_eq!(error_code(res).await, code, "{before:?}");
            assert_eq!(
                s.delete_as("c1", with_key).await.status(),
                StatusCode::FORBIDDEN,
                "{before:?}"
            );
            assert_eq!(
                s.get_as("c1", Creds::hook(&other)).await.status(),
                StatusCode::NOT_FOUND,
                "{before:?}"
            );
        }
        assert_eq!(
            s.name_as("c1", Creds::hook(&flow("w1"))).await,
            "Nightly builds",
            "{before:?}: still on its Workflows URL"
        );
        // A webhook of the team it was added in takes it back, with the key.
        let home = hook(TENANT, GROUP, "dd04");
        let res = s
            .put_as("c1", Some(&home), "Back home", Creds::key(&key))
            .await;
        assert_eq!(res.status(), StatusCode::OK, "{before:?}");
        assert_eq!(s.name_as("c1", Creds::hook(&home)).await, "Back home");
    }
}

#[tokio::test]
async fn with_sso_a_move_to_workflows_keeps_the_team_too() {
    let s = sso().await;
    let valid = s.dev_token(TENANT, USER, "valid").await;
    let signed = Creds {
        token: Some(&valid),
        ..Creds::default()
    };
    let key = s
        .create_as("c1", &hook(TENANT, GROUP, "aa01"), signed)
        .await;
    let with_key = Creds {
        key: Some(&key),
        ..signed
    };
    let res = s
        .put_as("c1", Some(&flow("w1")), "Nightly builds", with_key)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let team = hook(TENANT, OTHER_GROUP, "cc03");
    let all = Creds {
        hook: Some(&team),
        ..with_key
    };
    let res = s.get_as("c1", all).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(res).await, "webhook_other_team");
    let res = s.put_as("c1", Some(&team), "Taken over", all).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(res).await, "webhook_other_team");
    assert_eq!(
        s.name_as(
            "c1",
            Creds {
                hook: Some(&flow("w1")),
                ..signed
            }
        )
        .await,
        "Nightly builds"
    );
}

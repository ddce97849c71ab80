//! Connector webhook URLs: every form of the stored webhook is the same connection, a new
//! webhook of the same team rebinds only with the edit key, another team's or tenant's
//! never reads or takes over; and what kind of webhook a connection says it posts to.

use reqwest::StatusCode;
use serde_json::Value;

use super::*;
use crate::helpers::Creds;

#[tokio::test]
async fn every_form_of_the_stored_webhook_is_the_same_connection_and_only_a_proven_editor_stores_a_newer_one(
) {
    let s = spawn().await;
    let ids = format!("{GROUP}@{TENANT}/IncomingWebhook/c0ffee/{USER}");
    let legacy = format!("webhook/{ids}");
    let b2 = format!("webhookb2/{ids}");
    let v2 = format!("webhookb2/{ids}/V2sig");
    let key = s
        .create_as("c1", &s.inbox_url(&legacy), Creds::default())
        .await;
    assert_eq!(s.card_path("c1", Creds::key(&key), &b2).await, legacy);

    // Teams now hands out the webhookb2 form: it reads and saves without the key, but the
    // stored URL stays, since nothing proves who sent the new form.
    assert_eq!(
        s.name_as("c1", Creds::hook(&s.inbox_url(&b2))).await,
        "Nightly builds"
    );
    let res = s
        .put_as(
            "c1",
            Some(&s.inbox_url(&b2)),
            "Moved",
            Creds::hook(&s.inbox_url(&b2)),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(s.card_path("c1", Creds::key(&key), &b2).await, legacy);

    // With the edit key the newer form is kept.
    let res = s
        .put_as("c1", Some(&s.inbox_url(&b2)), "Moved", Creds::key(&key))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        s.card_path("c1", Creds::key(&key), &b2).await,
        b2,
        "the newer form is kept"
    );

    // An older form is still the same connection, but does not replace the newer one, even
    // with the key.
    let res = s
        .put_as("c1", Some(&s.inbox_url(&legacy)), "Moved", Creds::key(&key))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(s.card_path("c1", Creds::key(&key), &b2).await, b2);

    let res = s
        .put_as("c1", Some(&s.inbox_url(&v2)), "Moved", Creds::key(&key))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        s.card_path("c1", Creds::key(&key), &b2).await,
        v2,
        "with V2 is newer still"
    );
    for form in [&legacy, &b2, &v2] {
        assert_eq!(
            s.name_as("c1", Creds::hook(&s.inbox_url(form))).await,
            "Moved",
            "{form}"
        );
    }
}

#[tokio::test]
async fn a_made_up_v2_segment_never_replaces_the_stored_webhook_without_the_edit_key() {
    let s = spawn().await;
    let ids = format!("{GROUP}@{TENANT}/IncomingWebhook/c0ffee/{USER}");
    let b2 = format!("webhookb2/{ids}");
    let made_up = format!("webhookb2/{ids}/V2madeup");
    let key = s.create_as("c1", &s.inbox_url(&b2), Creds::default()).await;

    // The same (group, tenant, id, user) in a V2 form: the same webhook, so it reads and
    // saves, but the stored URL stays.
    assert_eq!(
        s.name_as("c1", Creds::hook(&s.inbox_url(&made_up))).await,
        "Nightly builds"
    );
    let res = s
        .put_as(
            "c1",
            Some(&s.inbox_url(&made_up)),
            "Renamed",
            Creds::hook(&s.inbox_url(&made_up)),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(s.name_as("c1", Creds::key(&key)).await, "Renamed");
    assert_eq!(
        s.card_path("c1", Creds::key(&key), &b2).await,
        b2,
        "the made-up form was not stored"
    );
    assert_eq!(
        s.name_as("c1", Creds::hook(&s.inbox_url(&b2))).await,
        "Renamed",
        "the stored URL still reads"
    );

    // With the edit key the editor is proven and the newer form is stored.
    let res = s
        .put_as(
            "c1",
            Some(&s.inbox_url(&made_up)),
            "Renamed",
            Creds::key(&key),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(s.card_path("c1", Creds::key(&key), &b2).await, made_up);
}

#[tokio::test]
async fn another_user_segment_or_appended_text_is_not_the_stored_webhook() {
    let s = spawn().await;
    let ids = format!("{GROUP}@{TENANT}/IncomingWebhook/c0ffee");
    let b2 = format!("webhookb2/{ids}/{USER}");
    let key = s.create_as("c1", &s.inbox_url(&b2), Creds::default()).await;
    // Another user segment, or text appended to it: another webhook URL of the same team.
    let other_users = [
        s.inbox_url(&format!(
            "webhookb2/{ids}/00000000-0000-4000-8000-0000000000ee"
        )),
        s.inbox_url(&format!("{b2}x")),
    ];
    // More segments than Teams' forms have: no webhook can be read from them.
    let appended = [
        s.inbox_url(&format!("{b2}/V2x/more")),
        s.inbox_url(&format!("{b2}/")),
    ];
    for url in other_users.iter().chain(&appended) {
        assert_eq!(
            s.get_as("c1", Creds::hook(url)).await.status(),
            StatusCode::NOT_FOUND,
            "{url}"
        );
        assert_eq!(
            s.delete_as("c1", Creds::hook(url)).await.status(),
            StatusCode::NOT_FOUND,
            "{url}"
        );
        let res = s
            .put_as("c1", Some(url), "Taken over", Creds::hook(url))
            .await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{url}");
    }
    // A connector URL whose ids cannot be read names no team: even the key does not move
    // the connection to it.
    for url in &appended {
        let res = s
            .put_as("c1", Some(url), "Taken over", Creds::key(&key))
            .await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{url}");
    }
    assert_eq!(
        s.name_as("c1", Creds::hook(&s.inbox_url(&b2))).await,
        "Nightly builds"
    );
    assert_eq!(s.card_path("c1", Creds::key(&key), &b2).await, b2);
}

#[tokio::test]
async fn the_forms_on_microsofts_hosts_are_the_same_webhook_too() {
    let s = spawn_with(|c| c.dev = false).await;
    let v2 = format!("{}/V2abc", hook(TENANT, GROUP, "8c2a9d"));
    s.create_as("c1", &v2, Creds::default()).await;
    let legacy = format!(
        "https://outlook.office.com/webhook/{GROUP}@{TENANT}/IncomingWebhook/8c2a9d/{USER}"
    );
    assert_eq!(
        s.name_as("c1", Creds::hook(&legacy)).await,
        "Nightly builds"
    );
    assert_eq!(
        s.name_as("c1", Creds::hook(&hook(TENANT, GROUP, "8c2a9d")))
            .await,
        "Nightly builds"
    );
    assert_eq!(
        s.delete_as("c1", Creds::hook(&legacy)).await.status(),
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn a_new_webhook_of_the_same_team_rebinds_only_with_the_edit_key() {
    let s = spawn().await;
    let one = hook(TENANT, GROUP, "aa01");
    let two = hook(TENANT, GROUP, "bb02");
    let key = s.create_as("c1", &one, Creds::default()).await;

    assert_eq!(
        s.get_as("c1", Creds::hook(&two)).await.status(),
        StatusCode::NOT_FOUND
    );
    let res = s
        .put_as("c1", Some(&two), "Taken over", Creds::hook(&two))
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(res).await, "forbidden");
    assert_eq!(
        s.name_as("c1", Creds::hook(&one)).await,
        "Nightly builds",
        "unchanged"
    );

    let both = Creds {
        hook: Some(&two),
        key: Some(&key),
        token: None,
    };
    assert_eq!(
        s.name_as("c1", both).await,
        "Nightly builds",
        "with the key the new URL reads"
    );
    let res = s.put_as("c1", Some(&two), "Nightly builds", both).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        s.name_as("c1", Creds::hook(&two)).await,
        "Nightly builds",
        "settings kept"
    );
    assert_eq!(
        s.get_as("c1", Creds::hook(&one)).await.status(),
        StatusCode::NOT_FOUND,
        "the old URL no longer is a key"
    );
}

/// Another team's (or tenant's) webhook, with and without the edit key: never in.
async fn never_in(other: &str, code: &str) {
    let s = spawn().await;
    let mine = hook(TENANT, GROUP, "aa01");
    let key = s.create_as("c1", &mine, Creds::default()).await;
    let with_key = Creds {
        hook: Some(other),
        key: Some(&key),
        token: None,
    };
    let res = s.get_as("c1", with_key).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], code);
    assert!(!body["message"].as_str().unwrap().is_empty());
    let res = s.put_as("c1", Some(other), "Taken over", with_key).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(res).await, code);
    assert_eq!(
        s.delete_as("c1", with_key).await.status(),
        StatusCode::FORBIDDEN
    );

    // Without the key it is told nothing beyond "not yours".
    assert_eq!(
        s.get_as("c1", Creds::hook(other)).await.status(),
        StatusCode::NOT_FOUND
    );
    let res = s
        .put_as("c1", Some(other), "Taken over", Creds::hook(other))
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(res).await, "forbidden");
    assert_eq!(
        s.name_as("c1", Creds::hook(&mine)).await,
        "Nightly builds",
        "unchanged"
    );
}

#[tokio::test]
async fn another_teams_webhook_never_reads_or_takes_over() {
    never_in(
        &hook(TENANT, "99990000-0000-4000-8000-000000000099", "cc03"),
        "webhook_other_team",
    )
    .await;
}

#[tokio::test]
async fn another_tenants_webhook_never_reads_or_takes_over() {
    never_in(
        &hook("00000000-0000-4000-8000-0000000000ff", GROUP, "cc03"),
        "webhook_other_tenant",
    )
    .await;
}

#[tokio::test]
async fn a_connection_says_what_kind_of_webhook_it_posts_to() {
    let s = spawn().await;
    let today = s.inbox_url(
        "powerautomate/automations/direct/cu/07/workflows/cccc/triggers/manual/paths/invoke?api-version=1&sig=three",
    );
    let retired =
        s.inbox_url("workflows/dddd/triggers/manual/paths/invoke?api-version=2016-06-01&sig=four");
    let connector = hook(TENANT, GROUP, "kind");
    // A retired Logic Apps URL is no longer taken new (only stored rows keep it).
    let res = s
        .put_as("kind-2", Some(&retired), "Kinds", Creds::default())
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{retired}");
    assert_eq!(error_code(res).await, "webhook_retired");
    for (id, url, kind) in [
        ("kind-1", today.as_str(), "workflows"),
        ("kind-3", connector.as_str(), "connector"),
    ] {
        let res = s.put_as(id, Some(url), "Kinds", Creds::default()).await;
        assert_eq!(res.status(), StatusCode::CREATED, "{url}");
        let saved: Value = res.json().await.unwrap();
        assert_eq!(saved["webhookKind"], kind, "the save's answer for {url}");
        let key = saved["editKey"].as_str().unwrap().to_string();
        let read: Value = s.get_as(id, Creds::key(&key)).await.json().await.unwrap();
        assert_eq!(read["webhookKind"], kind, "the read for {url}");
    }
}

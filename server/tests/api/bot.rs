//! The app's bot on `POST /api/messages`, against the emulator playing the Bot Framework
//! (`--dev-bot`: its own signing key, published as OpenID metadata and a JWKS with
//! endorsements): an install stores the team's conversation reference, an uninstall removes
//! it, channel events change its channels, and every forged activity is refused with 401
//! and leaves the database as it was.

use std::path::Path;

use serde_json::{json, Value};

use crate::helpers::{error_of, until, TestApp};

const TENANT: &str = "72F988BF-86F1-41AF-91AB-2D7CD011DB47";
const TEAM: &str = "19:8f4c2a1e0b7d4c559e617a0d3f1b2c4d@thread.tacv2";
const CHANNEL: &str = "19:5d7e9a2b3c4f4e1a8b6c0d2e4f6a8b0c@thread.tacv2";
const GROUP: &str = "0b4f2a1e-6c3d-4e5f-8a9b-1c2d3e4f5a6b";

async fn bot_app() -> TestApp {
    TestApp::dev_with_flags(&["--dev-bot"]).await
}

/// What the emulator's "Add the app to the team" and its siblings send, and the server's
/// answer: `{status, answer, activity}`.
async fn send(app: &TestApp, action: &str, via: &str, channel: &str, variant: &str) -> Value {
    let res = app
        .client
        .post(format!("{}/emulator/api/bot/activity", app.url))
        .json(
            &json!({ "action": action, "via": via, "tenant": TENANT, "teamId": TEAM,
                       "channelId": channel, "groupId": GROUP, "variant": variant }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "the emulator sent it");
    res.json().await.unwrap()
}

async fn add(app: &TestApp, variant: &str) -> Value {
    send(app, "add", "installationUpdate", CHANNEL, variant).await
}

/// The stored references: (tenant, team, scope, group, service url, conversation, bot id).
fn installs(db: &Path) -> Vec<Vec<Option<String>>> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut q = conn
        .prepare(
            "SELECT tenant_id, team_id, scope, aad_group_id, service_url, conversation_id, bot_id
             FROM bot_installs ORDER BY tenant_id, team_id",
        )
        .unwrap();
    q.query_map([], |r| (0..7).map(|i| r.get(i)).collect())
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn channels(db: &Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut q = conn
        .prepare("SELECT channel_id FROM bot_channels ORDER BY channel_id")
        .unwrap();
    q.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[tokio::test]
async fn an_install_stores_the_teams_reference_and_an_uninstall_removes_it() {
    let app = bot_app().await;
    let port = app.url.rsplit(':').next().unwrap().to_string();
    let sent = add(&app, "valid").await;
    assert_eq!(sent["status"], 200, "{sent}");
    assert_eq!(sent["activity"]["type"], "installationUpdate");
    let service_url = format!("http://127.0.0.1:{port}/emulator/smba/amer/");
    let some = |s: &str| Some(s.to_string());
    assert_eq!(
        installs(&app.db),
        vec![vec![
            some(&TENANT.to_ascii_lowercase()),
            some(TEAM),
            some("team"),
            some(GROUP),
            some(&service_url),
            some(CHANNEL),
            some("28:00000000-0000-4000-8000-00000000b07e"),
        ]]
    );
    let mut both = vec![TEAM.to_string(), CHANNEL.to_string()];
    both.sort();
    assert_eq!(
        channels(&app.db),
        both,
        "the channel it came from and General"
    );

    // Installed again (an upgrade, a second install event): one reference, as it was.
    assert_eq!(add(&app, "valid").await["status"], 200);
    assert_eq!(installs(&app.db).len(), 1);

    // Channels created and deleted in the team.
    let new = "19:0a1b2c3d4e5f4a6b8c7d9e0f1a2b3c4d@thread.tacv2";
    let created = send(&app, "channel-created", "", new, "valid").await;
    assert_eq!(created["status"], 200, "{created}");
    assert!(channels(&app.db).contains(&new.to_string()));
    assert_eq!(
        send(&app, "channel-deleted", "", new, "valid").await["status"],
        200
    );
    assert_eq!(channels(&app.db), both);

    let removed = send(&app, "remove", "installationUpdate", CHANNEL, "valid").await;
    assert_eq!(removed["status"], 200, "{removed}");
    assert!(installs(&app.db).is_empty() && channels(&app.db).is_empty());

    // A channel event for a team the bot is not in keeps nothing.
    assert_eq!(
        send(&app, "channel-created", "", new, "valid").await["status"],
        200
    );
    assert!(channels(&app.db).is_empty());
}

#[tokio::test]
async fn the_bot_added_and_removed_as_a_team_member_counts_too() {
    let app = bot_app().await;
    let added = send(&app, "add", "conversationUpdate", CHANNEL, "valid").await;
    assert_eq!(added["status"], 200, "{added}");
    assert_eq!(
        added["activity"]["channelData"]["eventType"],
        "teamMemberAdded"
    );
    let stored = installs(&app.db);
    assert_eq!(stored.len(), 1);
    assert_eq!(
        stored[0][5].as_deref(),
        Some(TEAM),
        "in its General channel"
    );
    assert_eq!(channels(&app.db), vec![TEAM.to_string()]);
    let removed = send(&app, "remove", "conversationUpdate", CHANNEL, "valid").await;
    assert_eq!(removed["status"], 200, "{removed}");
    assert!(installs(&app.db).is_empty() && channels(&app.db).is_empty());
}

#[tokio::test]
async fn every_forged_activity_is_refused_and_nothing_is_stored() {
    let app = bot_app().await;
    for (variant, why) in [
        ("bad-signature", "signature is invalid"),
        ("wrong-audience", "for another bot (audience)"),
        ("wrong-issuer", "issuer is not https://api.botframework.com"),
        ("expired", "has expired"),
        ("not-yet-valid", "not valid yet"),
        ("service-url-mismatch", "the activity names"),
        ("not-endorsed", "is not endorsed for msteams"),
        ("unknown-key", "is not in the published key set"),
        ("no-token", "a Bot Framework token is required"),
    ] {
        let sent = add(&app, variant).await;
        assert_eq!(sent["status"], 401, "{variant}: {sent}");
        let message = sent["answer"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(why), "{variant}: {message}");
        assert!(
            installs(&app.db).is_empty() && channels(&app.db).is_empty(),
            "{variant}: nothing stored"
        );
    }
    // Signed correctly, but naming a service URL Teams would never give: refused too.
    let sent = add(&app, "disallowed-service-url").await;
    assert_eq!(sent["status"], 400, "{sent}");
    assert_eq!(sent["answer"]["error"], "service_url_not_allowed");
    assert!(installs(&app.db).is_empty());
    // Two minutes past its expiry is within the five minutes of skew.
    assert_eq!(add(&app, "within-skew").await["status"], 200);
    assert_eq!(installs(&app.db).len(), 1);
    // Forged removals and channel deletions change nothing either.
    for variant in ["bad-signature", "wrong-audience", "not-endorsed"] {
        let sent = send(&app, "remove", "installationUpdate", CHANNEL, variant).await;
        assert_eq!(sent["status"], 401, "{variant}: {sent}");
        let sent = send(&app, "channel-deleted", "", CHANNEL, variant).await;
        assert_eq!(sent["status"], 401, "{variant}: {sent}");
    }
    assert_eq!(installs(&app.db).len(), 1);
    assert_eq!(channels(&app.db).len(), 2);
}

#[tokio::test]
async fn a_caller_without_a_valid_token_learns_nothing_but_401() {
    let app = bot_app().await;
    let post = |body: &'static str, auth: Option<&'static str>| {
        let mut req = app
            .client
            .post(format!("{}/api/messages", app.url))
            .header("content-type", "application/json")
            .body(body);
        if let Some(auth) = auth {
            req = req.header("authorization", auth);
        }
        req.send()
    };
    for (body, auth) in [
        ("not json at all", None),
        ("{}", Some("Bearer not-a-jwt")),
        (
            r#"{"type":"installationUpdate","action":"add","channelId":"msteams"}"#,
            Some("Basic dXNlcjpwYXNz"),
        ),
        // An unsigned token (alg none) with every claim right.
        (
            r#"{"type":"installationUpdate","channelId":"msteams","serviceUrl":"https://smba.trafficmanager.net/amer/"}"#,
            Some("Bearer eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJpc3MiOiJodHRwczovL2FwaS5ib3RmcmFtZXdvcmsuY29tIn0."),
        ),
    ] {
        let res = post(body, auth).await.unwrap();
        assert_eq!(res.status(), 401, "{body} {auth:?}");
        let e = error_of(res).await;
        assert_eq!(e["error"], "invalid_token", "{e}");
    }
    assert!(installs(&app.db).is_empty());
}

#[tokio::test]
async fn without_a_bot_app_id_there_is_no_messaging_endpoint_and_no_emulated_bot_framework() {
    let app = TestApp::dev().await;
    let res = app
        .client
        .post(format!("{}/api/messages", app.url))
        .json(&json!({ "type": "installationUpdate" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let e = error_of(res).await;
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("CONNECTOR_BOT_APP_ID"),
        "{e}"
    );
    let res = app
        .client
        .post(format!("{}/emulator/api/bot/activity", app.url))
        .json(&json!({ "action": "add", "tenant": TENANT, "teamId": TEAM, "channelId": CHANNEL }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        404,
        "the emulator signs nothing without --dev-bot"
    );
    // Nothing is on the bot path: the page is told so, and a save on it is refused.
    assert_eq!(
        install_status(&app).await,
        json!({ "available": false, "installed": false })
    );
    let res = app.put("c", &on_the_bot(CHANNEL)).await;
    assert_eq!(res.status(), 400);
    assert_eq!(error_of(res).await["error"], "bot_not_configured");
}

#[tokio::test]
async fn the_emulators_bot_framework_publishes_its_keys_with_their_endorsements() {
    let app = bot_app().await;
    let metadata: Value = app
        .get_path("/emulator/botframework/v1/.well-known/openidconfiguration")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(metadata["issuer"], "https://api.botframework.com");
    let jwks_uri = metadata["jwks_uri"].as_str().unwrap();
    let keys: Value = app
        .client
        .get(jwks_uri)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let endorsed: Vec<bool> = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            k["endorsements"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e == "msteams")
        })
        .collect();
    assert_eq!(
        endorsed,
        [true, false],
        "one key for Teams, one for Web Chat only"
    );
}

/// The conversation id as one path segment.
fn segment(id: &str) -> String {
    url::form_urlencoded::byte_serialize(id.as_bytes()).collect()
}

#[tokio::test]
async fn the_bot_posts_to_the_emulated_connector_service_with_one_token_and_each_answer_is_sorted()
{
    use connector_server::bot::{BotPoster, PosterSettings, Sent};
    let app = bot_app().await;
    let port = app.url.rsplit(':').next().unwrap().to_string();
    let poster = |secret: &str| {
        BotPoster::new(PosterSettings {
            app_id: "00000000-0000-4000-8000-00000000b07e".into(),
            app_secret: secret.into(),
            tenant: "00000000-0000-4000-8000-0000000000b0".into(),
            authority: format!("http://127.0.0.1:{port}/emulator/idp"),
            managed_identity: None,
        })
    };
    let bot = poster("emulator-dev-bot-client-secret");
    let service = format!("http://127.0.0.1:{port}/emulator/smba/amer/");
    let thread = format!("{CHANNEL};messageid=1733");
    let card = json!({ "type": "message", "attachments": [{
        "contentType": "application/vnd.microsoft.card.adaptive",
        "content": { "type": "AdaptiveCard", "version": "1.5",
                     "body": [{ "type": "TextBlock", "text": "Build 42 failed" }] } }] });
    for _ in 0..2 {
        let sent = bot.send(&service, &thread, &card).await;
        assert!(
            matches!(&sent, Sent::Posted { id: Some(id) } if id.starts_with("1:")),
            "{sent:?}"
        );
    }
    assert_eq!(bot.token_fetches(), 1, "the token is kept");
    let path = format!("/emulator/api/bot/conversations/{}", segment(&thread));
    let got: Value = app.get_path(&path).await.json().await.unwrap();
    let posted = got["activities"].as_array().unwrap();
    assert_eq!(posted.len(), 2, "{got}");
    assert_eq!(posted[0]["activity"], card, "in the thread, as sent");

    // What Teams answers, sorted into what a delivery does next.
    let mode = |m: &'static str| {
        let (app, path) = (&app, &path);
        async move {
            let res = app
                .client
                .put(format!("{}{path}", app.url))
                .json(&json!({ "mode": m }))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 204);
        }
    };
    mode("not-in-roster").await;
    let sent = bot.send(&service, &thread, &card).await;
    assert!(
        matches!(&sent, Sent::Removed { error } if error.contains("BotNotInConversationRoster")),
        "{sent:?}"
    );
    mode("throttled").await;
    let sent = bot.send(&service, &thread, &card).await;
    assert!(
        matches!(&sent, Sent::Retry { after: Some(d), .. } if d.as_secs() == 1),
        "{sent:?}"
    );
    for m in ["precondition-failed", "bad-gateway"] {
        mode(m).await;
        let sent = bot.send(&service, &thread, &card).await;
        assert!(
            matches!(&sent, Sent::Retry { after: None, .. }),
            "{m}: {sent:?}"
        );
    }
    let got: Value = app.get_path(&path).await.json().await.unwrap();
    assert_eq!(
        (
            got["activities"].as_array().unwrap().len(),
            got["received"].as_u64()
        ),
        (2, Some(6)),
        "refused posts are not in the conversation"
    );

    // A wrong secret gets no token: retried later, nothing posted; no token at all is 401.
    mode("ok").await;
    let sent = poster("not-the-secret")
        .send(&service, &thread, &card)
        .await;
    assert!(
        matches!(&sent, Sent::Retry { error, .. } if error.contains("invalid_client")),
        "{sent:?}"
    );
    let res = app
        .client
        .post(format!(
            "{service}v3/conversations/{}/activities",
            segment(&thread)
        ))
        .json(&card)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let got: Value = app.get_path(&path).await.json().await.unwrap();
    assert_eq!(got["activities"].as_array().unwrap().len(), 2);
}

/// A `--dev-bot` server whose retries come 50 times sooner (5 s → 100 ms).
async fn fast_bot_app() -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut c = crate::helpers::config_with(dir.path(), true, &["--write-rate", "0", "--dev-bot"]);
    c.test_retry_divisor = 50;
    TestApp::start_in(dir, c).await
}

/// A save on the bot path: no webhook URL, the tab's channel.
fn on_the_bot(channel: &str) -> Value {
    json!({ "settings": crate::helpers::settings(),
            "bot": { "tenantId": TENANT, "teamId": TEAM, "channelId": channel } })
}

/// Creates connection `id` on the bot path; its edit key.
async fn connect_bot(app: &TestApp, id: &str) -> String {
    let res = app.put(id, &on_the_bot(CHANNEL)).await;
    assert_eq!(res.status(), 201);
    let saved: Value = res.json().await.unwrap();
    assert_eq!(saved["webhookKind"], "bot", "{saved}");
    saved["editKey"].as_str().unwrap().to_string()
}

async fn status_by_key(app: &TestApp, id: &str, key: &str) -> Value {
    use crate::helpers::Creds;
    app.request(
        reqwest::Method::GET,
        &format!("{id}/deliveries"),
        Creds::key(key),
    )
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap()
}

/// What the emulated connector service holds for `conversation`.
async fn conversation(app: &TestApp, conversation: &str) -> Value {
    app.get_path(&format!(
        "/emulator/api/bot/conversations/{}",
        segment(conversation)
    ))
    .await
    .json()
    .await
    .unwrap()
}

async fn set_mode(app: &TestApp, conversation: &str, mode: &str) {
    let res = app
        .client
        .put(format!(
            "{}/emulator/api/bot/conversations/{}",
            app.url,
            segment(conversation)
        ))
        .json(&json!({ "mode": mode }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
}

/// `GET /api/bot/install` for the test's team.
async fn install_status(app: &TestApp) -> Value {
    let res = app
        .get_path(&format!(
            "/api/bot/install?tenantId={TENANT}&teamId={}",
            segment(TEAM)
        ))
        .await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

async fn send_event(app: &TestApp) {
    let res = app
        .send(&crate::helpers::event("build_failed", "web"))
        .await;
    assert_eq!(res.status(), 202, "{}", res.text().await.unwrap());
}

#[tokio::test]
async fn a_connection_on_the_bot_path_needs_no_url_and_its_card_arrives_in_the_channel() {
    let app = fast_bot_app().await;
    assert_eq!(
        install_status(&app).await,
        json!({ "available": true, "installed": false })
    );
    // Before the app is in the team: refused, naming why.
    let res = app.put("c", &on_the_bot(CHANNEL)).await;
    assert_eq!(res.status(), 400);
    let e = error_of(res).await;
    assert_eq!(e["error"], "bot_not_in_team", "{e}");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("the app's bot is not in team"),
        "{e}"
    );
    assert_eq!(add(&app, "valid").await["status"], 200);
    assert_eq!(
        install_status(&app).await,
        json!({ "available": true, "installed": true })
    );
    // Both a webhook and the bot: refused.
    let mut both = on_the_bot(CHANNEL);
    both["webhookUrl"] = json!(crate::helpers::flow_hook(&app.url, "x"));
    assert_eq!(app.put("c", &both).await.status(), 422);

    let key = connect_bot(&app, "c").await;
    send_event(&app).await;
    until("the card in the channel", 10, async || {
        conversation(&app, CHANNEL).await["activities"]
            .as_array()
            .is_some_and(|a| a.len() == 1)
    })
    .await;
    let got = conversation(&app, CHANNEL).await;
    let activity = &got["activities"][0]["activity"];
    assert_eq!(activity["type"], "message");
    let attachment = &activity["attachments"][0];
    assert_eq!(
        attachment["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert!(attachment.get("contentUrl").is_none(), "{attachment}");
    assert_eq!(attachment["content"]["type"], "AdaptiveCard");
    assert_eq!(attachment["content"]["body"][0]["text"], "Build 42 failed");
    until("delivered", 10, async || {
        status_by_key(&app, "c", &key).await["delivered"] == 1
    })
    .await;

    // Edited with its edit key, with no target sent: it stays on the bot path.
    use crate::helpers::Creds;
    let res = app.put_as("c", None, "Renamed", Creds::key(&key)).await;
    assert_eq!(res.status(), 200);
    // Without the edit key, knowing the channel's ids changes nothing.
    let res = app.put("c", &on_the_bot(CHANNEL)).await;
    assert_eq!(res.status(), 400, "{}", res.text().await.unwrap());
    let read: Value = app
        .get_as("c", Creds::key(&key))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["webhookKind"], "bot");
    assert_eq!(read["configName"], "Renamed");
}

#[tokio::test]
async fn a_throttled_post_is_retried_after_its_retry_after_and_then_arrives() {
    let app = fast_bot_app().await;
    assert_eq!(add(&app, "valid").await["status"], 200);
    let key = connect_bot(&app, "c").await;
    set_mode(&app, CHANNEL, "throttled").await;
    send_event(&app).await;
    until("a throttled attempt", 10, async || {
        status_by_key(&app, "c", &key).await["lastError"]
            .as_str()
            .is_some_and(|e| e.contains("429"))
    })
    .await;
    assert_eq!(status_by_key(&app, "c", &key).await["pending"], 1);
    set_mode(&app, CHANNEL, "ok").await;
    until("the card after the throttling", 15, async || {
        conversation(&app, CHANNEL).await["activities"]
            .as_array()
            .is_some_and(|a| a.len() == 1)
    })
    .await;
    let got = conversation(&app, CHANNEL).await;
    assert!(got["received"].as_u64().unwrap() >= 2, "{got}");
    until("delivered", 10, async || {
        status_by_key(&app, "c", &key).await["delivered"] == 1
    })
    .await;
}

#[tokio::test]
async fn not_in_the_roster_disables_the_connection_as_removed_from_the_team() {
    let app = fast_bot_app().await;
    assert_eq!(add(&app, "valid").await["status"], 200);
    let key = connect_bot(&app, "c").await;
    set_mode(&app, CHANNEL, "not-in-roster").await;
    send_event(&app).await;
    until("disabled", 10, async || {
        status_by_key(&app, "c", &key).await["disabled"].is_string()
    })
    .await;
    assert_eq!(
        status_by_key(&app, "c", &key).await["disabled"],
        "the app was removed from this team"
    );
    assert_eq!(
        conversation(&app, CHANNEL).await["received"],
        1,
        "tried once"
    );
}

#[tokio::test]
async fn removing_the_app_disables_the_teams_bot_connections() {
    let app = fast_bot_app().await;
    assert_eq!(add(&app, "valid").await["status"], 200);
    let key = connect_bot(&app, "c").await;
    let removed = send(&app, "remove", "installationUpdate", CHANNEL, "valid").await;
    assert_eq!(removed["status"], 200, "{removed}");
    assert_eq!(
        status_by_key(&app, "c", &key).await["disabled"],
        "the app was removed from this team"
    );
    let res = app
        .send(&crate::helpers::event("build_failed", "web"))
        .await;
    let accepted: Value = res.json().await.unwrap();
    assert_eq!(
        accepted["deliveries"], 0,
        "a disabled connection gets nothing"
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(conversation(&app, CHANNEL).await["received"], 0);
    assert_eq!(
        install_status(&app).await,
        json!({ "available": true, "installed": false })
    );
    // Saving on the bot path again is refused while the app is not in the team.
    let res = app.put("d", &on_the_bot(CHANNEL)).await;
    assert_eq!(error_of(res).await["error"], "bot_not_in_team");
}

#[tokio::test]
async fn a_connection_moves_to_the_bot_path_with_its_edit_key_within_its_team_only() {
    let app = fast_bot_app().await;
    assert_eq!(add(&app, "valid").await["status"], 200);
    let connector = |group: &str, id: &str| {
        format!(
            "{}/emulator/webhook/webhookb2/{group}@{}/IncomingWebhook/{id}/7c1d",
            app.url,
            TENANT.to_ascii_lowercase()
        )
    };
    let create = |id: &'static str, hook: String| {
        let app = &app;
        async move {
            let res = app
                .put(
                    id,
                    &json!({ "settings": crate::helpers::settings(), "webhookUrl": hook }),
                )
                .await;
            assert_eq!(res.status(), 201);
            let v: Value = res.json().await.unwrap();
            v["editKey"].as_str().unwrap().to_string()
        }
    };
    let other = channel_of("0f0f");
    let mine = create("mine", connector(GROUP, "aa01")).await;
    let theirs = create(
        "theirs",
        connector("9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a", "aa02"),
    )
    .await;
    use crate::helpers::Creds;
    let move_to = |id: &'static str, key: String| {
        let app = &app;
        let other = other.clone();
        async move {
            app.request(reqwest::Method::PUT, id, Creds::key(&key))
                .json(&on_the_bot(&other))
                .send()
                .await
                .unwrap()
        }
    };
    // Another team's connection stays where it is, and its channel is not kept.
    let res = move_to("theirs", theirs).await;
    assert_eq!(res.status(), 403);
    assert_eq!(error_of(res).await["error"], "webhook_other_team");
    assert!(!channels(&app.db).contains(&other));
    // Without the edit key: refused.
    let res = app.put("mine", &on_the_bot(&other)).await;
    assert_eq!(res.status(), 400);
    assert!(!channels(&app.db).contains(&other));
    // With it, in the team the bot is in: moved, and the channel is the install's.
    let res = move_to("mine", mine).await;
    assert_eq!(res.status(), 200);
    let saved: Value = res.json().await.unwrap();
    assert_eq!(saved["webhookKind"], "bot");
    assert!(channels(&app.db).contains(&other));
}

fn channel_of(id: &str) -> String {
    format!("19:{id}aaaaaaaaaaaaaaaaaaaaaaaaaaaa@thread.tacv2")
}

/// `PUT /emulator/api/idp` with `change`.
async fn change_idp(app: &TestApp, change: Value) {
    let res = app
        .client
        .put(format!("{}/emulator/api/idp", app.url))
        .json(&change)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204, "{}", res.text().await.unwrap());
}

async fn idp_stats(app: &TestApp) -> Value {
    app.get_path("/emulator/api/idp")
        .await
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_expired_token_the_service_refuses_is_dropped_and_a_new_one_delivers_the_card() {
    let app = fast_bot_app().await;
    assert_eq!(add(&app, "valid").await["status"], 200);
    let key = connect_bot(&app, "c").await;
    // The token endpoint hands out the next token already expired (its answer says it lasts).
    change_idp(&app, json!({ "botExpiredTokens": 1 })).await;
    assert_eq!(idp_stats(&app).await["botExpiredTokens"], 1);
    let before = idp_stats(&app).await["tokenRequests"].as_u64().unwrap();
    send_event(&app).await;
    until("the card after a new token", 10, async || {
        conversation(&app, CHANNEL).await["activities"]
            .as_array()
            .is_some_and(|a| a.len() == 1)
    })
    .await;
    let stats = idp_stats(&app).await;
    assert_eq!(stats["botExpiredTokens"], 0);
    assert_eq!(
        stats["tokenRequests"].as_u64().unwrap() - before,
        2,
        "the expired token, then a new one: {stats}"
    );
    until("delivered", 10, async || {
        status_by_key(&app, "c", &key).await["delivered"] == 1
    })
    .await;
    // The new token is kept: the next card takes no fetch.
    let mut second = crate::helpers::event("build_failed", "web");
    second["id"] = json!("build-43");
    let res = app.send(&second).await;
    assert_eq!(res.status(), 202, "{}", res.text().await.unwrap());
    until("the second card", 10, async || {
        conversation(&app, CHANNEL).await["activities"]
            .as_array()
            .is_some_and(|a| a.len() == 2)
    })
    .await;
    assert_eq!(
        idp_stats(&app).await["tokenRequests"].as_u64().unwrap() - before,
        2
    );
    let posted = conversation(&app, CHANNEL).await;
    assert_eq!(
        posted["activities"][0]["from"]["id"], "28:00000000-0000-4000-8000-00000000b07e",
        "posted as the app's bot: {posted}"
    );
}

#[tokio::test]
async fn a_token_refused_twice_keeps_the_card_for_a_later_attempt() {
    let app = fast_bot_app().await;
    assert_eq!(add(&app, "valid").await["status"], 200);
    let key = connect_bot(&app, "c").await;
    change_idp(&app, json!({ "botExpiredTokens": 2 })).await;
    send_event(&app).await;
    until("a refused attempt", 10, async || {
        status_by_key(&app, "c", &key).await["lastError"]
            .as_str()
            .is_some_and(|e| e.contains("401") && e.contains("refused twice"))
    })
    .await;
    // The third token is good: the retry delivers it.
    until("the card on a retry", 15, async || {
        conversation(&app, CHANNEL).await["activities"]
            .as_array()
            .is_some_and(|a| a.len() == 1)
    })
    .await;
    assert_eq!(idp_stats(&app).await["botExpiredTokens"], 0);
    // Bad switches are refused by name.
    let res = app
        .client
        .put(format!("{}/emulator/api/idp", app.url))
        .json(&json!({ "botExpiredTokens": 5000 }))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(res).await["error"], "invalid_count");
}

#[tokio::test]
async fn the_next_posts_throttled_then_the_conversation_answers_again_by_itself() {
    let app = fast_bot_app().await;
    assert_eq!(add(&app, "valid").await["status"], 200);
    let key = connect_bot(&app, "c").await;
    let res = app
        .client
        .put(format!(
            "{}/emulator/api/bot/conversations/{}",
            app.url,
            segment(CHANNEL)
        ))
        .json(&json!({ "mode": "throttled", "count": 2 }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let got = conversation(&app, CHANNEL).await;
    assert_eq!(
        (got["mode"].as_str(), got["remaining"].as_u64()),
        (Some("throttled"), Some(2))
    );
    send_event(&app).await;
    until("the card after two 429s", 15, async || {
        conversation(&app, CHANNEL).await["activities"]
            .as_array()
            .is_some_and(|a| a.len() == 1)
    })
    .await;
    let got = conversation(&app, CHANNEL).await;
    assert_eq!(got["received"], 3, "{got}");
    assert_eq!(got["mode"], "ok");
    until("delivered", 10, async || {
        status_by_key(&app, "c", &key).await["delivered"] == 1
    })
    .await;
}

#[tokio::test]
async fn a_deleted_channel_disables_its_connections_and_a_deleted_team_all_of_its_own() {
    let app = fast_bot_app().await;
    assert_eq!(add(&app, "valid").await["status"], 200);
    let in_channel = connect_bot(&app, "c").await;
    let other = channel_of("0e0e");
    let res = app.put("d", &on_the_bot(&other)).await;
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let in_other: Value = res.json().await.unwrap();
    let in_other = in_other["editKey"].as_str().unwrap().to_string();
    assert!(channels(&app.db).contains(&CHANNEL.to_string()));

    let deleted = send(&app, "channel-deleted", "", CHANNEL, "valid").await;
    assert_eq!(deleted["status"], 200, "{deleted}");
    assert_eq!(
        deleted["activity"]["channelData"]["eventType"],
        "channelDeleted"
    );
    assert_eq!(
        status_by_key(&app, "c", &in_channel).await["disabled"],
        "the channel was deleted in Teams"
    );
    assert!(
        status_by_key(&app, "d", &in_other).await["disabled"].is_null(),
        "another channel's connection is left alone"
    );
    assert!(!channels(&app.db).contains(&CHANNEL.to_string()));
    assert_eq!(installs(&app.db).len(), 1, "the app is still in the team");
    // A forged deletion is refused and changes nothing.
    let forged = send(&app, "channel-deleted", "", &other, "bad-signature").await;
    assert_eq!(forged["status"], 401);
    assert!(status_by_key(&app, "d", &in_other).await["disabled"].is_null());

    let gone = send(&app, "team-deleted", "", CHANNEL, "valid").await;
    assert_eq!(gone["status"], 200, "{gone}");
    assert_eq!(gone["activity"]["channelData"]["eventType"], "teamDeleted");
    assert_eq!(
        status_by_key(&app, "d", &in_other).await["disabled"],
        "the team was deleted in Teams"
    );
    assert_eq!(
        status_by_key(&app, "c", &in_channel).await["disabled"],
        "the channel was deleted in Teams",
        "the first reason stays"
    );
    assert!(installs(&app.db).is_empty());
    let res = app
        .send(&crate::helpers::event("build_failed", "web"))
        .await;
    let accepted: Value = res.json().await.unwrap();
    assert_eq!(accepted["deliveries"], 0);
}

/// A stand-in for the host's managed identity endpoint: the Azure Instance Metadata
/// Service's shape (`Metadata: true`, `expires_in` as a string), or with `identity_header`
/// App Service's (`X-IDENTITY-HEADER`, `expires_on` only). Like the real one it holds the
/// identity's credential: it gets the token from the emulator's identity provider (whose
/// tokens the emulated connector service takes) with the development bot's secret.
struct IdentityEndpoint {
    url: String,
    /// The server's URL, once it runs.
    app: std::sync::Arc<std::sync::Mutex<String>>,
    /// The query of each request.
    asked: std::sync::Arc<std::sync::Mutex<Vec<std::collections::HashMap<String, String>>>>,
}

async fn identity_endpoint(identity_header: Option<&'static str>) -> IdentityEndpoint {
    use axum::extract::{Query, State};
    use axum::http::{HeaderMap, StatusCode};
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};
    type Shared = (
        Arc<Mutex<String>>,
        Arc<Mutex<Vec<HashMap<String, String>>>>,
        Option<&'static str>,
    );
    async fn token(
        State((app, asked, identity_header)): State<Shared>,
        headers: HeaderMap,
        Query(q): Query<HashMap<String, String>>,
    ) -> (StatusCode, axum::Json<Value>) {
        asked.lock().unwrap().push(q.clone());
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let ok_header = match identity_header {
            Some(h) => header("x-identity-header") == Some(h),
            None => header("metadata") == Some("true"),
        };
        if !ok_header {
            return (
                StatusCode::BAD_REQUEST,
                axum::Json(json!({ "error": "invalid_request",
                    "error_description": "Required metadata header not specified or wrong" })),
            );
        }
        let version = if identity_header.is_some() {
            "2019-08-01"
        } else {
            "2018-02-01"
        };
        if q.get("api-version").map(String::as_str) != Some(version)
            || q.get("resource").map(String::as_str) != Some("https://api.botframework.com")
            || q.get("client_id").map(String::as_str)
                != Some("00000000-0000-4000-8000-00000000b07e")
        {
            return (
                StatusCode::BAD_REQUEST,
                axum::Json(json!({ "error": "invalid_request",
                    "error_description": format!("unexpected query {q:?}") })),
            );
        }
        let app = app.lock().unwrap().clone();
        let granted: Value = reqwest::Client::new()
            .post(format!(
                "{app}/emulator/idp/00000000-0000-4000-8000-0000000000b0/oauth2/v2.0/token"
            ))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", "00000000-0000-4000-8000-00000000b07e"),
                ("client_secret", "emulator-dev-bot-client-secret"),
                ("scope", "https://api.botframework.com/.default"),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let lifetime = granted["expires_in"].as_i64().unwrap();
        let mut answer = json!({
            "access_token": granted["access_token"],
            "expires_on": (now + lifetime).to_string(),
            "resource": "https://api.botframework.com",
            "token_type": "Bearer",
        });
        if identity_header.is_none() {
            answer["expires_in"] = json!(lifetime.to_string());
        } else {
            answer["client_id"] = json!("00000000-0000-4000-8000-00000000b07e");
        }
        (StatusCode::OK, axum::Json(answer))
    }
    let app = Arc::new(Mutex::new(String::new()));
    let asked = Arc::new(Mutex::new(Vec::new()));
    let router = axum::Router::new()
        .route("/metadata/identity/oauth2/token", axum::routing::get(token))
        .with_state((app.clone(), asked.clone(), identity_header));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/metadata/identity/oauth2/token",
        listener.local_addr().unwrap()
    );
    tokio::spawn(async move { axum::serve(listener, router).await });
    IdentityEndpoint { url, app, asked }
}

/// A fast `--dev-bot` server posting with the bot's managed identity at `endpoint`.
async fn managed_identity_app(endpoint: &IdentityEndpoint, header: Option<&str>) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut flags = vec![
        "--write-rate",
        "0",
        "--dev-bot",
        "--bot-managed-identity",
        "00000000-0000-4000-8000-00000000b07e",
        "--bot-identity-endpoint",
        &endpoint.url,
    ];
    if let Some(h) = header {
        flags.extend(["--bot-identity-header", h]);
    }
    let mut c = crate::helpers::config_with(dir.path(), true, &flags);
    c.test_retry_divisor = 50;
    let app = TestApp::start_in(dir, c).await;
    *endpoint.app.lock().unwrap() = app.url.clone();
    app
}

#[tokio::test]
async fn the_bot_posts_with_its_managed_identitys_token_from_the_instance_metadata_service() {
    let imds = identity_endpoint(None).await;
    let app = managed_identity_app(&imds, None).await;
    assert_eq!(add(&app, "valid").await["status"], 200);
    let key = connect_bot(&app, "c").await;
    send_event(&app).await;
    until("the card", 10, async || {
        conversation(&app, CHANNEL).await["activities"]
            .as_array()
            .is_some_and(|a| a.len() == 1)
    })
    .await;
    until("delivered", 10, async || {
        status_by_key(&app, "c", &key).await["delivered"] == 1
    })
    .await;
    let asked = imds.asked.lock().unwrap().clone();
    assert_eq!(asked.len(), 1, "one token, kept: {asked:?}");
    assert_eq!(
        idp_stats(&app).await["tokenRequests"],
        1,
        "only the identity endpoint asked"
    );
}

#[tokio::test]
async fn the_bot_posts_with_its_managed_identitys_token_from_app_service() {
    let endpoint = identity_endpoint(Some("h3ader-of-app-service")).await;
    let app = managed_identity_app(&endpoint, Some("h3ader-of-app-service")).await;
    assert_eq!(add(&app, "valid").await["status"], 200);
    let _key = connect_bot(&app, "c").await;
    send_event(&app).await;
    until("the card", 10, async || {
        conversation(&app, CHANNEL).await["activities"]
            .as_array()
            .is_some_and(|a| a.len() == 1)
    })
    .await;
    assert_eq!(endpoint.asked.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_managed_identity_endpoint_that_refuses_keeps_the_card_waiting_and_says_why() {
    let endpoint = identity_endpoint(Some("the-right-header")).await;
    let app = managed_identity_app(&endpoint, Some("a-wrong-header")).await;
    assert_eq!(add(&app, "valid").await["status"], 200);
    let key = connect_bot(&app, "c").await;
    send_event(&app).await;
    until("a refused token", 10, async || {
        status_by_key(&app, "c", &key).await["lastError"]
            .as_str()
            .is_some_and(|e| {
                e.contains("managed identity '00000000-0000-4000-8000-00000000b07e'")
                    && e.contains("400 invalid_request")
            })
    })
    .await;
    let status = status_by_key(&app, "c", &key).await;
    assert_eq!(status["pending"], 1, "{status}");
    assert!(
        !status.to_string().contains("a-wrong-header"),
        "the header is a credential: {status}"
    );
    assert_eq!(conversation(&app, CHANNEL).await["received"], 0);
}

/// A server that posts as the bot (not in dev mode) tells the page it serves: its
/// `config.json` gets `"bot": true` beside what the file says, never cached; without the
/// bot the file is answered as it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_posting_as_the_bot_says_so_in_the_config_json_of_the_page_it_serves() {
    for with_bot in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let dist = dir.path().join("dist");
        std::fs::create_dir_all(&dist).unwrap();
        std::fs::write(dist.join("index.html"), "<html>the page</html>").unwrap();
        std::fs::write(
            dist.join("config.json"),
            r#"{"apiBaseUrl": "", "validMessageOrigins": ["https://example.com"]}"#,
        )
        .unwrap();
        let flags: &[&str] = if with_bot {
            &[
                "--bot-app-id",
                BOT_APP_ID_LIKE,
                "--bot-app-password",
                "a-secret",
            ]
        } else {
            &[]
        };
        let c = crate::helpers::config_with(dir.path(), false, flags);
        let app = TestApp::start_in(dir, c).await;
        let res = app.get_path("/config.json").await;
        assert_eq!(res.status(), 200);
        let cache = res
            .headers()
            .get("cache-control")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        assert!(
            cache.contains("no-cache") || cache.contains("no-store"),
            "{cache}"
        );
        let config: Value = res.json().await.unwrap();
        assert_eq!(
            config["validMessageOrigins"],
            json!(["https://example.com"])
        );
        if with_bot {
            assert_eq!(config["bot"], json!(true), "{config}");
        } else {
            assert!(config.get("bot").is_none(), "{config}");
        }
    }
}

/// An app id of the shape Entra gives (a GUID).
const BOT_APP_ID_LIKE: &str = "6f1a2b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b";

//! `cargo xtask package` end to end: the real command, the official schema from npm, zips
//! read back.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn xtask(args: &[&str]) -> (bool, String) {
    let (ok, stdout, stderr) = xtask_io(args);
    (ok, format!("{stdout}{stderr}"))
}

/// Success, stdout and stderr apart: warnings go to stderr.
fn xtask_io(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn newest_shipped_schema() -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../node_modules/@microsoft/app-manifest/build/json-schemas/teams");
    let mut versions: Vec<(u32, u32)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| {
            panic!(
                "{} is missing ({e}) after `cargo xtask package`, which installs it",
                dir.display()
            )
        })
        .filter_map(|e| {
            let name = e.ok()?.file_name().to_string_lossy().into_owned();
            let (a, b) = name.strip_prefix('v')?.split_once('.')?;
            Some((a.parse().ok()?, b.parse().ok()?))
        })
        .collect();
    versions.sort();
    let (a, b) = versions.last().unwrap();
    format!("{a}.{b}")
}

fn entries(zip: &Path) -> Vec<(String, Vec<u8>)> {
    let mut archive = zip::ZipArchive::new(std::fs::File::open(zip).unwrap()).unwrap();
    (0..archive.len())
        .map(|i| {
            let mut f = archive.by_index(i).unwrap();
            let mut buf = Vec::new();
            f.read_to_end(&mut buf).unwrap();
            (f.name().to_string(), buf)
        })
        .collect()
}

fn manifest_of(zip: &Path) -> Value {
    let e = entries(zip);
    serde_json::from_slice(&e.iter().find(|(n, _)| n == "manifest.json").unwrap().1).unwrap()
}

fn build(dir: &Path, extra: &[&str]) -> PathBuf {
    let out = dir.join("app.zip");
    let mut args = vec![
        "package",
        "--page-url",
        "https://connector.example.com/config/",
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let (ok, text) = xtask(&args);
    assert!(ok, "{text}");
    out
}

#[test]
fn a_package_is_written_with_the_newest_schema_and_passes_check() {
    let dir = tmp();
    let zip = build(dir.path(), &["--connector"]);
    let names: Vec<String> = entries(&zip).into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        ["manifest.json", "color.png", "outline.png"],
        "three files at the root"
    );
    let m = manifest_of(&zip);
    let version = newest_shipped_schema();
    assert_eq!(m["manifestVersion"], version.as_str());
    assert_eq!(m["$schema"], format!("https://developer.microsoft.com/en-us/json-schemas/teams/v{version}/MicrosoftTeams.schema.json"));
    assert_eq!(
        m["connectors"][0]["configurationUrl"],
        "https://connector.example.com/config/"
    );
    assert_eq!(m["connectors"][0]["scopes"], serde_json::json!(["team"]));
    assert_eq!(
        m["validDomains"],
        serde_json::json!(["connector.example.com"])
    );
    assert_eq!(m["name"]["short"], "Build Notifications");
    assert_eq!(m["accentColor"], "#5B5FC7");
    assert!(m.get("configurableTabs").is_none() && m.get("webApplicationInfo").is_none());
    let (ok, text) = xtask(&["package", "--check", zip.to_str().unwrap()]);
    assert!(ok, "{text}");
    assert!(
        text.contains(&format!("is valid (manifest v{version})")),
        "{text}"
    );
}

#[test]
fn the_icons_have_teams_sizes_and_the_outline_is_white_on_transparent() {
    let dir = tmp();
    let zip = build(dir.path(), &[]);
    let files = entries(&zip);
    let color = image::load_from_memory(&files[1].1).unwrap();
    assert_eq!((color.width(), color.height()), (192, 192));
    let outline = image::load_from_memory(&files[2].1).unwrap().to_rgba8();
    assert_eq!(outline.dimensions(), (32, 32));
    assert!(outline
        .pixels()
        .all(|p| p[3] == 0 || (p[0], p[1], p[2]) == (255, 255, 255)));
    assert!(outline.pixels().any(|p| p[3] > 0));
}

#[test]
fn the_default_is_a_configurable_tab_not_a_connector() {
    let dir = tmp();
    let m = manifest_of(&build(dir.path(), &[]));
    assert!(m.get("connectors").is_none());
    assert_eq!(
        m["configurableTabs"][0]["configurationUrl"],
        "https://connector.example.com/config/"
    );
    assert_eq!(m["configurableTabs"][0]["canUpdateConfiguration"], true);
}

#[test]
fn a_tab_package_serves_channels_and_group_chats_and_passes_check() {
    let dir = tmp();
    let zip = build(dir.path(), &[]);
    let m = manifest_of(&zip);
    let tab = &m["configurableTabs"][0];
    assert_eq!(tab["scopes"], serde_json::json!(["team", "groupChat"]));
    assert!(tab["context"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c == "channelTab"));
    assert!(tab["context"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c == "privateChatTab"));
    let (ok, text) = xtask(&["package", "--check", zip.to_str().unwrap()]);
    assert!(ok, "{text}");
}

#[test]
fn given_ids_version_and_sso_are_used() {
    let dir = tmp();
    let m = manifest_of(&build(
        dir.path(),
        &[
            "--connector",
            "--app-id",
            "1f0c5ab4-3c1e-4f6b-9d3a-0a6c1b2d3e4f",
            "--version",
            "2.3.4",
            "--connector-id",
            "my-connector",
            "--sso-client-id",
            "0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e",
            "--sso-resource",
            "api://connector.example.com/0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e",
        ],
    ));
    assert_eq!(m["id"], "1f0c5ab4-3c1e-4f6b-9d3a-0a6c1b2d3e4f");
    assert_eq!(m["version"], "2.3.4");
    assert_eq!(m["connectors"][0]["connectorId"], "my-connector");
    assert_eq!(
        m["webApplicationInfo"]["id"],
        "0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e"
    );
}

fn refused(dir: &Path, extra: &[&str], want: &str) {
    let out = dir.join("bad.zip");
    let mut args = vec!["package", "--out", out.to_str().unwrap()];
    if !extra.contains(&"--page-url") {
        args.extend_from_slice(&["--page-url", "https://connector.example.com/"]);
    }
    args.extend_from_slice(extra);
    let (ok, text) = xtask(&args);
    assert!(!ok, "{args:?} should fail");
    assert!(text.contains(want), "expected '{want}' in: {text}");
    assert!(!out.exists(), "no zip written for {args:?}");
    assert!(!dir.join("bad.zip.partial").exists());
}

#[test]
fn each_bad_input_gets_its_error_and_no_zip() {
    let dir = tmp();
    refused(
        dir.path(),
        &["--page-url", "http://connector.example.com/"],
        "page url 'http://connector.example.com/' must be https",
    );
    refused(
        dir.path(),
        &[
            "--page-url",
            "https://connector.example.com/connector/tab.html",
        ],
        "page url 'https://connector.example.com/connector/tab.html' is the tab page (tab.html)",
    );
    refused(
        dir.path(),
        &["--app-id", "not-a-guid"],
        "app id 'not-a-guid' is not a guid",
    );
    refused(
        dir.path(),
        &["--version", "1.0"],
        "version '1.0' is not X.Y.Z",
    );
    refused(
        dir.path(),
        &["--color-icon", "/nonexistent/color.png"],
        "icon '/nonexistent/color.png' cannot be read",
    );
    refused(
        dir.path(),
        &["--sso-client-id", "0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e"],
        "go together",
    );

    let red = dir.path().join("red.png");
    image::RgbaImage::from_pixel(32, 32, image::Rgba([255, 0, 0, 255]))
        .save(&red)
        .unwrap();
    refused(
        dir.path(),
        &["--outline-icon", red.to_str().unwrap()],
        "must be white on transparent",
    );
    let not_png = dir.path().join("icon.png");
    std::fs::write(&not_png, b"GIF89a").unwrap();
    refused(
        dir.path(),
        &["--color-icon", not_png.to_str().unwrap()],
        "is not a png",
    );
}

fn rewrite(zip: &Path, out: &Path, edit: impl Fn(&mut Value), folder: bool) {
    let files = entries(zip);
    let mut w = zip::ZipWriter::new(std::fs::File::create(out).unwrap());
    for (name, bytes) in files {
        let opts = zip::write::SimpleFileOptions::default();
        if name == "manifest.json" {
            let mut m: Value = serde_json::from_slice(&bytes).unwrap();
            edit(&mut m);
            w.start_file(name, opts).unwrap();
            w.write_all(serde_json::to_string(&m).unwrap().as_bytes())
                .unwrap();
        } else {
            w.start_file(
                if folder {
                    format!("icons/{name}")
                } else {
                    name
                },
                opts,
            )
            .unwrap();
            w.write_all(&bytes).unwrap();
        }
    }
    w.finish().unwrap();
}

#[test]
fn check_lists_every_schema_violation_with_its_json_path() {
    let dir = tmp();
    let zip = build(dir.path(), &[]);
    let broken = dir.path().join("broken.zip");
    rewrite(
        &zip,
        &broken,
        |m| {
            m["accentColor"] = "purple".into();
            m["name"]["short"] = "x".repeat(40).into();
            m.as_object_mut().unwrap().remove("developer");
        },
        false,
    );
    let (ok, text) = xtask(&["package", "--check", broken.to_str().unwrap()]);
    assert!(!ok);
    assert!(text.contains("/accentColor"), "{text}");
    assert!(text.contains("/name/short"), "{text}");
    assert!(text.contains("developer"), "{text}");
}

#[test]
fn check_refuses_icons_in_a_folder() {
    let dir = tmp();
    let zip = build(dir.path(), &[]);
    let foldered = dir.path().join("folder.zip");
    rewrite(&zip, &foldered, |_| {}, true);
    let (ok, text) = xtask(&["package", "--check", foldered.to_str().unwrap()]);
    assert!(!ok);
    assert!(text.contains("'icons/color.png' is in a folder"), "{text}");
    assert!(
        text.contains("/icons/color: 'color.png' is not in the zip root"),
        "{text}"
    );
}

/// `zip` again as `out`, with `name` replaced by `bytes` (or left out when `None`).
fn with_file(zip: &Path, out: &Path, name: &str, bytes: Option<&[u8]>) {
    let mut w = zip::ZipWriter::new(std::fs::File::create(out).unwrap());
    for (n, b) in entries(zip) {
        let b = if n == name {
            match bytes {
                Some(new) => new.to_vec(),
                None => continue,
            }
        } else {
            b
        };
        w.start_file(n, zip::write::SimpleFileOptions::default())
            .unwrap();
        w.write_all(&b).unwrap();
    }
    w.finish().unwrap();
}

fn build_io(dir: &Path, extra: &[&str]) -> (PathBuf, String) {
    let out = dir.join("app.zip");
    let mut args = vec!["package", "--out", out.to_str().unwrap()];
    if !extra.contains(&"--page-url") && !extra.contains(&"--env") {
        args.extend_from_slice(&["--page-url", "https://connector.example.com/config/"]);
    }
    args.extend_from_slice(extra);
    let (ok, stdout, stderr) = xtask_io(&args);
    assert!(ok, "{stdout}{stderr}");
    (out, stderr)
}

#[test]
fn the_default_tab_reaches_shared_and_private_channels_and_the_schema_checks_it() {
    let dir = tmp();
    let (zip, stderr) = build_io(dir.path(), &[]);
    let m = manifest_of(&zip);
    assert_eq!(m["supportsChannelFeatures"], "tier1");
    assert!(!stderr.contains("connector package"), "{stderr}");
    let (ok, text) = xtask(&["package", "--check", zip.to_str().unwrap()]);
    assert!(ok, "{text}");
    // The value is checked against the schema, not just written.
    let bad = dir.path().join("tier2.zip");
    rewrite(
        &zip,
        &bad,
        |m| m["supportsChannelFeatures"] = "tier2".into(),
        false,
    );
    let (ok, text) = xtask(&["package", "--check", bad.to_str().unwrap()]);
    assert!(!ok && text.contains("/supportsChannelFeatures"), "{text}");
}

const BOT: &str = "5a1c0b2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d";

#[test]
fn a_bot_id_adds_a_notification_only_bot_beside_the_tab_and_the_schema_checks_it() {
    let dir = tmp();
    let (zip, _) = build_io(dir.path(), &["--bot-id", BOT]);
    let m = manifest_of(&zip);
    assert_eq!(
        m["bots"],
        serde_json::json!([{ "botId": BOT, "scopes": ["team", "groupChat"], "isNotificationOnly": true }])
    );
    assert_eq!(
        m["configurableTabs"][0]["configurationUrl"], "https://connector.example.com/config/",
        "the tab stays: the bot only posts"
    );
    let (ok, text) = xtask(&["package", "--check", zip.to_str().unwrap()]);
    assert!(ok, "{text}");
    // What is written is what the official schema takes: a scope it does not know, a second
    // bot or a bot id that is not a GUID are each named by their path.
    for (edit, path) in [
        (
            (|m: &mut Value| m["bots"][0]["scopes"] = serde_json::json!(["team", "channel"]))
                as fn(&mut Value),
            "/bots/0/scopes/1",
        ),
        (
            |m: &mut Value| {
                let again = m["bots"][0].clone();
                m["bots"].as_array_mut().unwrap().push(again);
            },
            "/bots",
        ),
        (
            |m: &mut Value| m["bots"][0]["botId"] = "not-a-guid".into(),
            "/bots/0/botId",
        ),
    ] {
        let bad = dir.path().join("bad-bot.zip");
        rewrite(&zip, &bad, edit, false);
        let (ok, text) = xtask(&["package", "--check", bad.to_str().unwrap()]);
        assert!(!ok && text.contains(path), "{path}: {text}");
    }
    // Without --bot-id there is no bot.
    let plain = manifest_of(&build(dir.path(), &[]));
    assert!(plain.get("bots").is_none());
}

#[test]
fn a_bot_id_must_be_a_guid_and_is_not_for_the_legacy_connector() {
    let dir = tmp();
    refused(
        dir.path(),
        &["--bot-id", "my-bot"],
        "bot id 'my-bot' is not a guid",
    );
    refused(
        dir.path(),
        &["--bot-id", BOT, "--connector"],
        "cannot be used with",
    );
}

#[test]
fn tab_is_still_accepted_with_a_deprecation_warning() {
    let dir = tmp();
    let (default, _) = build_io(dir.path(), &[]);
    let default = manifest_of(&default);
    let (tab, stderr) = build_io(dir.path(), &["--tab"]);
    assert!(
        stderr.contains("--tab is deprecated and ignored"),
        "{stderr}"
    );
    assert_eq!(manifest_of(&tab), default, "--tab changes nothing");
    let (ok, text) = xtask(&[
        "package",
        "--page-url",
        "https://connector.example.com/",
        "--tab",
        "--connector",
    ]);
    assert!(!ok && text.contains("cannot be used with"), "{text}");
}

#[test]
fn connector_builds_the_legacy_connector_package_and_warns_that_connectors_are_retired() {
    let dir = tmp();
    let (zip, stderr) = build_io(dir.path(), &["--connector"]);
    assert!(
        stderr.contains("legacy Office 365 connector package")
            && stderr.contains("no new connector registrations since 2024-08-15")
            && stderr.contains("stopped delivering in spring 2026"),
        "{stderr}"
    );
    let m = manifest_of(&zip);
    assert_eq!(
        m["connectors"][0]["configurationUrl"],
        "https://connector.example.com/config/"
    );
    for key in [
        "configurableTabs",
        "supportsChannelFeatures",
        "localizationInfo",
    ] {
        assert!(m.get(key).is_none(), "{key} in a connector package");
    }
    let (ok, text) = xtask(&["package", "--check", zip.to_str().unwrap()]);
    assert!(ok, "{text}");
    // --connector-id belongs to the connector package only.
    let (ok, text) = xtask(&[
        "package",
        "--page-url",
        "https://connector.example.com/",
        "--connector-id",
        "x",
    ]);
    assert!(!ok && text.contains("--connector"), "{text}");
}

#[test]
fn every_language_of_the_form_gets_a_localization_file_that_check_validates() {
    let dir = tmp();
    let (zip, _) = build_io(dir.path(), &[]);
    let m = manifest_of(&zip);
    // connector.toml's form is in English and German.
    assert_eq!(
        m["localizationInfo"],
        serde_json::json!({
            "defaultLanguageTag": "en",
            "additionalLanguages": [{ "languageTag": "de", "file": "de.json" }],
        })
    );
    let files = entries(&zip);
    let de: Value =
        serde_json::from_slice(&files.iter().find(|(n, _)| n == "de.json").unwrap().1).unwrap();
    let version = newest_shipped_schema();
    assert_eq!(de["$schema"], format!("https://developer.microsoft.com/en-us/json-schemas/teams/v{version}/MicrosoftTeams.Localization.schema.json"));
    for key in [
        "name.short",
        "name.full",
        "description.short",
        "description.full",
    ] {
        assert!(de[key].as_str().is_some_and(|s| !s.is_empty()), "{key}");
    }

    // --check reads each file against the official localization schema.
    let mut broken = de.clone();
    broken["name.short"] = "x".repeat(40).into();
    broken.as_object_mut().unwrap().remove("description.full");
    let bad = dir.path().join("bad-de.zip");
    with_file(
        &zip,
        &bad,
        "de.json",
        Some(&serde_json::to_vec(&broken).unwrap()),
    );
    let (ok, text) = xtask(&["package", "--check", bad.to_str().unwrap()]);
    assert!(!ok, "{text}");
    assert!(text.contains("de.json: /name.short"), "{text}");
    assert!(text.contains("description.full"), "{text}");

    let missing = dir.path().join("no-de.zip");
    with_file(&zip, &missing, "de.json", None);
    let (ok, text) = xtask(&["package", "--check", missing.to_str().unwrap()]);
    assert!(!ok, "{text}");
    assert!(
        text.contains(
            "/localizationInfo/additionalLanguages/0/file: 'de.json' is not in the zip root"
        ),
        "{text}"
    );
}

const ENVIRONMENTS: &str = r#"
[staging]
app_id = "a3e9b2c4-58d1-4f6e-b7a0-2c9d4e1f6a83"
page_url = "https://teams-staging.contoso.com/page/"
name_suffix = " (staging)"

[production]
app_id = "f47ac10b-58cc-4372-a567-0e02b2c3d479"
page_url = "https://teams.contoso.com/"
"#;

#[test]
fn env_takes_the_app_id_page_and_name_of_the_environment_and_explicit_flags_win() {
    let dir = tmp();
    let file = dir.path().join("environments.toml");
    std::fs::write(&file, ENVIRONMENTS).unwrap();
    let file = file.to_str().unwrap();

    let (zip, _) = build_io(dir.path(), &["--env", "staging", "--environments", file]);
    let m = manifest_of(&zip);
    assert_eq!(m["id"], "a3e9b2c4-58d1-4f6e-b7a0-2c9d4e1f6a83");
    assert_eq!(
        m["configurableTabs"][0]["configurationUrl"],
        "https://teams-staging.contoso.com/page/"
    );
    assert_eq!(
        m["validDomains"],
        serde_json::json!(["teams-staging.contoso.com"])
    );
    assert_eq!(m["name"]["short"], "Build Notifications (staging)");
    let de: Value = serde_json::from_slice(
        &entries(&zip)
            .into_iter()
            .find(|(n, _)| n == "de.json")
            .unwrap()
            .1,
    )
    .unwrap();
    assert_eq!(de["name.short"], "Build Notifications (staging)");
    let m = manifest_of(&build_io(dir.path(), &["--env", "production", "--environments", file]).0);
    assert_eq!(m["name"]["short"], "Build Notifications");

    let (zip, stderr) = build_io(
        dir.path(),
        &[
            "--env",
            "staging",
            "--environments",
            file,
            "--page-url",
            "https://elsewhere.contoso.com/",
            "--app-id",
            "1f0c5ab4-3c1e-4f6b-9d3a-0a6c1b2d3e4f",
        ],
    );
    let m = manifest_of(&zip);
    assert_eq!(m["id"], "1f0c5ab4-3c1e-4f6b-9d3a-0a6c1b2d3e4f");
    assert_eq!(
        m["configurableTabs"][0]["configurationUrl"],
        "https://elsewhere.contoso.com/"
    );
    assert_eq!(m["name"]["short"], "Build Notifications (staging)");
    assert!(
        stderr.contains("--page-url wins over environment 'staging''s page_url")
            && stderr.contains("--app-id wins over environment 'staging''s app_id"),
        "{stderr}"
    );
}

#[test]
fn the_repositorys_example_environments_each_build() {
    let dir = tmp();
    let mut ids = Vec::new();
    for env in ["dev", "staging", "production"] {
        let m = manifest_of(&build_io(dir.path(), &["--env", env]).0);
        ids.push(m["id"].as_str().unwrap().to_string());
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3, "each environment is its own app: {ids:?}");
}

#[test]
fn an_unknown_env_names_itself_the_file_and_the_names_it_has() {
    let dir = tmp();
    let file = dir.path().join("environments.toml");
    std::fs::write(&file, ENVIRONMENTS).unwrap();
    let out = dir.path().join("qa.zip");
    let (ok, text) = xtask(&[
        "package",
        "--env",
        "qa",
        "--environments",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!ok, "{text}");
    assert!(
        text.contains(&format!(
            "{}: no environment 'qa'; the file has production, staging",
            file.display()
        )),
        "{text}"
    );
    assert!(!out.exists());
}

#[test]
fn example_values_are_a_warning_not_a_failure() {
    let dir = tmp();
    let (_, stderr) = build_io(dir.path(), &[]);
    assert!(stderr.contains("still has example values"), "{stderr}");
    // connector.toml's developer is the example one.
    assert!(stderr.contains("developer.name 'Example Ltd'"), "{stderr}");
    assert!(
        stderr.contains("developer.websiteUrl 'https://example.com'"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "configurableTabs[0].configurationUrl 'https://connector.example.com/config/'"
        ),
        "{stderr}"
    );
    let (_, stderr) = build_io(dir.path(), &["--page-url", "https://teams.contoso.com/"]);
    assert!(!stderr.contains("configurationUrl"), "{stderr}");
}

//! `cargo xtask package`: the Teams app package (manifest.json, two icons and one
//! localization file per extra language at the zip root), validated offline against the
//! official schemas from `@microsoft/app-manifest` before anything is written; `--check
//! FILE.zip` validates an existing package.

mod environments;
mod examples;
mod localization;
mod schema;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use connector_settings::CONNECTOR;
use image::{DynamicImage, GenericImageView, ImageFormat};
use serde_json::{json, Value};

use crate::setup::root;

const COLOR: &str = "color.png";
const OUTLINE: &str = "outline.png";

/// Options of `package`.
#[derive(clap::Parser, Debug)]
#[command(name = "package")]
pub struct Options {
    /// Validate an existing package instead of writing one.
    #[arg(long, value_name = "FILE.zip", exclusive = true)]
    check: Option<PathBuf>,
    /// Build for this environment: its app_id, page_url and name_suffix from the environments
    /// file. --page-url and --app-id, when given as well, win over the file's values.
    #[arg(long, value_name = "NAME")]
    env: Option<String>,
    /// The environments file --env reads [default: environments.toml at the repository root].
    #[arg(long, value_name = "FILE", requires = "env")]
    environments: Option<PathBuf>,
    /// The https address of the configuration page (wins over --env).
    #[arg(long, value_name = "URL", required_unless_present_any = ["check", "env"])]
    page_url: Option<String>,
    /// The app's id, a GUID (wins over --env) [default: derived from connector.toml's id].
    #[arg(long, value_name = "GUID")]
    app_id: Option<String>,
    /// The app's version, X.Y.Z.
    #[arg(long, value_name = "X.Y.Z", default_value = "1.0.0")]
    version: String,
    /// Legacy: an Office 365 connector package instead of the configurable tab. Microsoft
    /// retired connectors: no new registrations since 2024-08-15, no deliveries since spring 2026.
    #[arg(long)]
    connector: bool,
    /// With --connector: the connector's id [default: derived from connector.toml's id].
    #[arg(long, value_name = "GUID", requires = "connector")]
    connector_id: Option<String>,
    /// Deprecated and ignored: the configurable tab is the default.
    #[arg(long, conflicts_with = "connector")]
    tab: bool,
    /// The zip to write [default: build/<id>[-<env>]-<version>.zip].
    #[arg(long, value_name = "FILE.zip")]
    out: Option<PathBuf>,
    /// The 192x192 colour icon [default: public/icon-color.png].
    #[arg(long, value_name = "PNG")]
    color_icon: Option<PathBuf>,
    /// The 32x32 white-on-transparent outline icon [default: public/icon-outline.png].
    #[arg(long, value_name = "PNG")]
    outline_icon: Option<PathBuf>,
    /// The Entra app's client id for single sign-on (with --sso-resource).
    #[arg(long, value_name = "GUID")]
    sso_client_id: Option<String>,
    /// The Entra app's resource (api://...) for single sign-on (with --sso-client-id).
    #[arg(long, value_name = "URI")]
    sso_resource: Option<String>,
    /// The app's bot: the Microsoft App ID (the Entra app's client id) of its Azure Bot
    /// registration, a GUID. Adds a notification-only bot in teams and group chats beside
    /// the configurable tab, which posts the cards as the app (README "Posting as the app's
    /// bot"); the server takes the same id as --bot-app-id.
    #[arg(long, value_name = "GUID", conflicts_with = "connector")]
    bot_id: Option<String>,
}

/// The zip's files, by name, in order.
type Files = Vec<(String, Vec<u8>)>;

/// What the package is built for, once --env and the explicit flags are merged.
struct Target {
    page_url: String,
    app_id: String,
    name_suffix: String,
}

pub fn run(opts: &Options) -> Result<()> {
    // The schemas come from npm: install them if they are missing or stale.
    crate::setup::npm_packages()?;
    if let Some(file) = &opts.check {
        let version = check(file)?;
        println!("package {} is valid (manifest v{version})", file.display());
        return Ok(());
    }
    if opts.tab {
        eprintln!(
            "xtask: warning: --tab is deprecated and ignored: the configurable tab is the default"
        );
    }
    if opts.connector {
        eprintln!(
            "xtask: warning: --connector builds a legacy Office 365 connector package. Microsoft \
             retired connectors: no new connector registrations since 2024-08-15, and connectors \
             stopped delivering in spring 2026. Build without --connector for the configurable tab."
        );
    }
    let target = target(opts)?;
    let out = opts.out.clone().unwrap_or_else(|| {
        let env = opts
            .env
            .as_ref()
            .map(|e| format!("-{e}"))
            .unwrap_or_default();
        root().join(format!("build/{}{env}-{}.zip", CONNECTOR.id, opts.version))
    });
    let (version, files, manifest) = prepare(opts, &target)?;
    write_zip(&out, &files)?;
    println!(
        "xtask: wrote {} (manifest v{version}, {})",
        out.display(),
        match (opts.connector, &opts.bot_id) {
            (true, _) => "legacy connector",
            (false, Some(_)) => "configurable tab and notification bot",
            (false, None) => "configurable tab",
        }
    );
    let examples = examples::in_manifest(&manifest);
    if !examples.is_empty() {
        eprintln!(
            "xtask: warning: the manifest still has example values; replace them (connector.toml, \
             --page-url or --env) before you publish:\n  {}",
            examples.join("\n  ")
        );
    }
    Ok(())
}

/// The page address, app id and name suffix: the explicit flags, else --env's, else defaults.
fn target(o: &Options) -> Result<Target> {
    let env = match &o.env {
        Some(name) => {
            let file = o
                .environments
                .clone()
                .unwrap_or_else(|| root().join("environments.toml"));
            let env = environments::load(&file, name)?;
            for (flag, given, key) in [
                ("--page-url", o.page_url.is_some(), "page_url"),
                ("--app-id", o.app_id.is_some(), "app_id"),
            ] {
                if given {
                    eprintln!("xtask: {flag} wins over environment '{name}''s {key}");
                }
            }
            Some(env)
        }
        None => None,
    };
    Ok(Target {
        page_url: o
            .page_url
            .clone()
            .or_else(|| env.as_ref().map(|e| e.page_url.clone()))
            .unwrap_or_default(),
        app_id: o
            .app_id
            .clone()
            .or_else(|| env.as_ref().map(|e| e.app_id.clone()))
            .unwrap_or_else(|| guid_from(&format!("app:{}", CONNECTOR.id))),
        name_suffix: env.map(|e| e.name_suffix).unwrap_or_default(),
    })
}

/// Everything checked, nothing written: the manifest version, the zip's files (manifest,
/// icons, localization files) and the manifest.
fn prepare(o: &Options, t: &Target) -> Result<(String, Files, Value)> {
    let page_url = t.page_url.as_str();
    let mut problems = Vec::new();
    let host = match page_url.strip_prefix("https://") {
        Some(rest) => rest.split(['/', '?', '#']).next().unwrap_or("").to_string(),
        None => {
            problems.push(format!("page url '{}' must be https", page_url));
            String::new()
        }
    };
    if page_url.starts_with("https://") && (host.is_empty() || host.contains('@')) {
        problems.push(format!("page url '{}' has no valid host", page_url));
    }
    // The manifest's configurationUrl is the configuration page; the tab page (its own
    // binary, which has no form) is what the configuration page's save hands Teams.
    let path = page_url.split(['?', '#']).next().unwrap_or("");
    if path.ends_with("/tab.html") {
        problems.push(format!(
            "page url '{page_url}' is the tab page (tab.html): give the configuration page, \
             its directory or index.html"
        ));
    }
    let app_id = &t.app_id;
    if !is_guid(app_id) {
        problems.push(format!(
            "app id '{app_id}' is not a guid like 1f0c5ab4-3c1e-4f6b-9d3a-0a6c1b2d3e4f"
        ));
    }
    if !is_semver(&o.version) {
        problems.push(format!("version '{}' is not X.Y.Z", o.version));
    }
    let sso = match (&o.sso_client_id, &o.sso_resource) {
        (Some(id), Some(resource)) => {
            if !is_guid(id) {
                problems.push(format!("sso client id '{id}' is not a guid"));
            }
            Some(json!({ "id": id, "resource": resource }))
        }
        (None, None) => None,
        _ => {
            problems.push("--sso-client-id and --sso-resource go together".into());
            None
        }
    };
    let color = icon(&icon_path(&o.color_icon, "icon-color.png"), 192, false)
        .map_err(|e| problems.push(e))
        .ok();
    let outline = icon(&icon_path(&o.outline_icon, "icon-outline.png"), 32, true)
        .map_err(|e| problems.push(e))
        .ok();
    let version = schema::newest_version()?;
    let name = format!("{}{}", CONNECTOR.name, t.name_suffix);
    let mut manifest = json!({
        "$schema": format!("https://developer.microsoft.com/en-us/json-schemas/teams/v{version}/MicrosoftTeams.schema.json"),
        "manifestVersion": version,
        "version": o.version,
        "id": app_id,
        "developer": {
            "name": CONNECTOR.developer_name,
            "websiteUrl": CONNECTOR.website_url,
            "privacyUrl": CONNECTOR.privacy_url,
            "termsOfUseUrl": CONNECTOR.terms_url,
        },
        "name": { "short": name, "full": name },
        "description": { "short": CONNECTOR.short_description, "full": CONNECTOR.full_description },
        "icons": { "color": COLOR, "outline": OUTLINE },
        "accentColor": CONNECTOR.accent_color,
        "validDomains": [host],
    });
    let mut localized = Vec::new();
    if o.connector {
        // The legacy package stays as it always was: connectors never reached shared or
        // private channels, and nobody can register a new one to localize.
        let connector_id = o
            .connector_id
            .clone()
            .unwrap_or_else(|| guid_from(&format!("connector:{}", CONNECTOR.id)));
        manifest["connectors"] = json!([{ "connectorId": connector_id, "configurationUrl": page_url, "scopes": ["team"] }]);
    } else {
        // A channel tab or a group chat's tab; its Settings re-open the configuration page.
        manifest["configurableTabs"] = json!([{
            "configurationUrl": page_url,
            "canUpdateConfiguration": true,
            "scopes": ["team", "groupChat"],
            "context": ["channelTab", "privateChatTab", "meetingChatTab"],
        }]);
        // Shared and private channels too (manifest v1.25+).
        manifest["supportsChannelFeatures"] = json!("tier1");
        let languages = localization::languages(&CONNECTOR);
        manifest["localizationInfo"] = localization::info(&languages);
        for language in languages.iter().filter(|l| **l != localization::DEFAULT) {
            let name = localization::file_name(language);
            let file = localization::file(&manifest, &version);
            for p in schema::localization_problems(&file, &version)? {
                problems.push(format!("{name}: {p}"));
            }
            localized.push((name, serde_json::to_vec_pretty(&file)?));
        }
    }
    if let Some(sso) = sso {
        manifest["webApplicationInfo"] = sso;
    }
    if let Some(bot_id) = &o.bot_id {
        if !is_guid(bot_id) {
            problems.push(format!(
                "bot id '{bot_id}' is not a guid: give the Microsoft App ID of the Azure Bot registration"
            ));
        }
        manifest["bots"] = bots(bot_id);
    }
    problems.extend(schema::manifest_problems(&manifest, &version)?);
    if !problems.is_empty() {
        bail!("no package written:\n  {}", problems.join("\n  "));
    }
    let mut files = vec![
        (
            "manifest.json".to_string(),
            serde_json::to_vec_pretty(&manifest)?,
        ),
        (COLOR.to_string(), color.unwrap()),
        (OUTLINE.to_string(), outline.unwrap()),
    ];
    files.extend(localized);
    Ok((version, files, manifest))
}

/// The manifest's `bots`: one bot that only posts (Teams shows no message box for it), in
/// the two scopes the configurable tab has, so that installing the app in a team or a group
/// chat installs the bot there too and Teams tells the server where it may post.
fn bots(bot_id: &str) -> Value {
    json!([{
        "botId": bot_id,
        "scopes": ["team", "groupChat"],
        "isNotificationOnly": true,
    }])
}

/// The icon given, or the one in public/.
fn icon_path(given: &Option<PathBuf>, default: &str) -> PathBuf {
    given
        .clone()
        .unwrap_or_else(|| root().join("public").join(default))
}

/// Reads a PNG, resizes it to `size` if needed, checks it, and encodes it again.
fn icon(path: &Path, size: u32, outline: bool) -> Result<Vec<u8>, String> {
    let bytes = std::fs::read(path)
        .map_err(|e| format!("icon '{}' cannot be read: {e}", path.display()))?;
    let img = decode_png(&bytes, &path.display().to_string())?;
    let img = if img.dimensions() == (size, size) {
        img
    } else {
        img.resize_exact(size, size, image::imageops::FilterType::Lanczos3)
    };
    check_icon(&img, size, outline, &path.display().to_string())?;
    let mut out = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut out), ImageFormat::Png)
        .map_err(|e| e.to_string())?;
    Ok(out)
}

fn decode_png(bytes: &[u8], name: &str) -> Result<DynamicImage, String> {
    if image::guess_format(bytes).ok() != Some(ImageFormat::Png) {
        return Err(format!("icon '{name}' is not a png"));
    }
    image::load_from_memory_with_format(bytes, ImageFormat::Png)
        .map_err(|e| format!("icon '{name}' is not a readable png: {e}"))
}

/// The outline icon must be white on transparent: every pixel either fully transparent or
/// white (any opacity).
fn check_icon(img: &DynamicImage, size: u32, outline: bool, name: &str) -> Result<(), String> {
    if img.dimensions() != (size, size) {
        let (w, h) = img.dimensions();
        return Err(format!(
            "icon '{name}' is {w}x{h}; it must be {size}x{size}"
        ));
    }
    if outline {
        let rgba = img.to_rgba8();
        if let Some((x, y, p)) = rgba
            .enumerate_pixels()
            .find(|(_, _, p)| p[3] > 0 && (p[0], p[1], p[2]) != (255, 255, 255))
        {
            return Err(format!(
                "outline icon '{name}' must be white on transparent; pixel ({x}, {y}) is rgba({}, {}, {}, {})",
                p[0], p[1], p[2], p[3]
            ));
        }
        if rgba.pixels().all(|p| p[3] == 0) {
            return Err(format!("outline icon '{name}' is fully transparent"));
        }
    }
    Ok(())
}

fn write_zip(out: &Path, files: &Files) -> Result<()> {
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    // Written beside the target and renamed: a failure never leaves a partial zip.
    let tmp = out.with_extension("zip.partial");
    {
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&tmp)?);
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, bytes) in files {
            zip.start_file(name.as_str(), opts)?;
            zip.write_all(bytes)?;
        }
        zip.finish()?;
    }
    std::fs::rename(&tmp, out)?;
    Ok(())
}

/// Validates an existing package; returns its manifest version.
fn check(file: &Path) -> Result<String> {
    let f =
        std::fs::File::open(file).with_context(|| format!("cannot open '{}'", file.display()))?;
    let mut zip =
        zip::ZipArchive::new(f).with_context(|| format!("'{}' is not a zip", file.display()))?;
    let mut problems = Vec::new();
    let names: Vec<String> = zip.file_names().map(str::to_string).collect();
    for n in &names {
        if n.contains('/') {
            problems.push(format!(
                "'{n}' is in a folder; Teams wants every file at the zip root"
            ));
        }
    }
    let mut read = |name: &str| -> Option<Vec<u8>> {
        let mut entry = zip.by_name(name).ok()?;
        let mut buf = Vec::new();
        entry.read_to_end(&mut buf).ok()?;
        Some(buf)
    };
    let Some(manifest_bytes) = read("manifest.json") else {
        bail!("'{}' has no manifest.json at its root", file.display());
    };
    let manifest: Value =
        serde_json::from_slice(&manifest_bytes).context("manifest.json is not json")?;
    let version = manifest["manifestVersion"]
        .as_str()
        .context("manifest.json has no manifestVersion")?
        .to_string();
    problems.extend(schema::manifest_problems(&manifest, &version)?);
    // The default language's strings are the manifest's own; only its optional file and each
    // additional language's file are localization files.
    let info = &manifest["localizationInfo"];
    let mut localized: Vec<(String, &Value)> = Vec::new();
    if !info["defaultLanguageFile"].is_null() {
        localized.push((
            "/localizationInfo/defaultLanguageFile".into(),
            &info["defaultLanguageFile"],
        ));
    }
    for (i, l) in info["additionalLanguages"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        localized.push((
            format!("/localizationInfo/additionalLanguages/{i}/file"),
            &l["file"],
        ));
    }
    for (at, name) in localized {
        let Some(name) = name.as_str() else {
            continue; // the manifest schema has said so
        };
        match read(name).map(|b| serde_json::from_slice::<Value>(&b)) {
            None => problems.push(format!("{at}: '{name}' is not in the zip root")),
            Some(Err(e)) => problems.push(format!("{at}: '{name}' is not json: {e}")),
            Some(Ok(file)) => {
                for p in schema::localization_problems(&file, &version)? {
                    problems.push(format!("{name}: {p}"));
                }
            }
        }
    }
    for (key, size, outline) in [("color", 192, true), ("outline", 32, true)] {
        let outline = outline && key == "outline";
        match manifest["icons"][key].as_str() {
            None => problems.push(format!("/icons/{key}: missing")),
            Some(name) => match read(name) {
                None => problems.push(format!("/icons/{key}: '{name}' is not in the zip root")),
                Some(bytes) => {
                    if let Err(e) = decode_png(&bytes, name)
                        .and_then(|img| check_icon(&img, size, outline, name))
                    {
                        problems.push(format!("/icons/{key}: {e}"));
                    }
                }
            },
        }
    }
    if !problems.is_empty() {
        bail!(
            "package '{}' is not valid:\n  {}",
            file.display(),
            problems.join("\n  ")
        );
    }
    Ok(version)
}

fn is_guid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12])
        && parts
            .iter()
            .all(|p| p.chars().all(|c| c.is_ascii_hexdigit()))
}

fn is_semver(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

/// A stable GUID (version 5 shape) from a name, so repeated builds keep the app's identity.
fn guid_from(name: &str) -> String {
    use sha2::Digest as _;
    let mut b: [u8; 16] = sha2::Sha256::digest(name.as_bytes())[..16]
        .try_into()
        .unwrap();
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids_and_versions() {
        let g = guid_from("app:x");
        assert!(is_guid(&g), "{g}");
        assert_eq!(g, guid_from("app:x"));
        assert!(!is_guid("not-a-guid"));
        assert!(is_semver("1.2.3") && !is_semver("1.2") && !is_semver("1.x.3"));
    }
}

//! `cargo xtask package`: the Teams app package (manifest.json and two icons at the zip
//! root), validated offline against the official schema from `@microsoft/app-manifest`
//! before anything is written; `--check FILE.zip` validates an existing package.

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
    /// The https address of the configuration page.
    #[arg(long, value_name = "URL", required_unless_present = "check")]
    page_url: Option<String>,
    /// The connector's id (a GUID) [default: derived from connector.toml's id].
    #[arg(long, value_name = "GUID")]
    connector_id: Option<String>,
    /// The app's id (a GUID) [default: derived from connector.toml's id].
    #[arg(long, value_name = "GUID")]
    app_id: Option<String>,
    /// The app's version, X.Y.Z.
    #[arg(long, value_name = "X.Y.Z", default_value = "1.0.0")]
    version: String,
    /// Declare a configurable tab (today's Teams) instead of a connector.
    #[arg(long)]
    tab: bool,
    /// The zip to write [default: build/<id>-<version>.zip].
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
}

pub fn run(opts: &Options) -> Result<()> {
    if let Some(file) = &opts.check {
        let version = check(file)?;
        println!("package {} is valid (manifest v{version})", file.display());
        return Ok(());
    }
    let out = opts
        .out
        .clone()
        .unwrap_or_else(|| root().join(format!("build/{}-{}.zip", CONNECTOR.id, opts.version)));
    let (version, manifest, color, outline) = prepare(opts)?;
    write_zip(&out, &manifest, &color, &outline)?;
    println!(
        "xtask: wrote {} (manifest v{version}, {})",
        out.display(),
        if opts.tab {
            "configurable tab"
        } else {
            "connector"
        }
    );
    Ok(())
}

/// Everything checked, nothing written: the manifest and the two encoded icons.
fn prepare(o: &Options) -> Result<(String, Value, Vec<u8>, Vec<u8>)> {
    // clap requires it without --check.
    let page_url = o.page_url.as_deref().unwrap_or_default();
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
    let app_id = o
        .app_id
        .clone()
        .unwrap_or_else(|| guid_from(&format!("app:{}", CONNECTOR.id)));
    if !is_guid(&app_id) {
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
    let version = newest_schema_version()?;
    let connector_id = o
        .connector_id
        .clone()
        .unwrap_or_else(|| guid_from(&format!("connector:{}", CONNECTOR.id)));
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
        "name": { "short": CONNECTOR.name, "full": CONNECTOR.name },
        "description": { "short": CONNECTOR.short_description, "full": CONNECTOR.full_description },
        "icons": { "color": COLOR, "outline": OUTLINE },
        "accentColor": CONNECTOR.accent_color,
        "validDomains": [host],
    });
    if o.tab {
        // A channel tab or a group chat's tab; its Settings re-open the configuration page.
        manifest["configurableTabs"] = json!([{
            "configurationUrl": page_url,
            "canUpdateConfiguration": true,
            "scopes": ["team", "groupChat"],
            "context": ["channelTab", "privateChatTab", "meetingChatTab"],
        }]);
    } else {
        manifest["connectors"] = json!([{ "connectorId": connector_id, "configurationUrl": page_url, "scopes": ["team"] }]);
    }
    if let Some(sso) = sso {
        manifest["webApplicationInfo"] = sso;
    }
    problems.extend(validate(&manifest, &version)?);
    if !problems.is_empty() {
        bail!("no package written:\n  {}", problems.join("\n  "));
    }
    Ok((version, manifest, color.unwrap(), outline.unwrap()))
}

/// Reads a PNG, resizes it to `size` if needed, checks it, and encodes it again.
/// The icon given, or the one in public/.
fn icon_path(given: &Option<PathBuf>, default: &str) -> PathBuf {
    given
        .clone()
        .unwrap_or_else(|| root().join("public").join(default))
}

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

fn schema_root() -> PathBuf {
    root().join("node_modules/@microsoft/app-manifest/build/json-schemas/teams")
}

/// The highest `vX.Y` the npm package ships (never vDevPreview).
fn newest_schema_version() -> Result<String> {
    let dir = schema_root();
    let entries = std::fs::read_dir(&dir).with_context(|| {
        format!(
            "cannot read {}: run `npm ci` (cargo xtask test does)",
            dir.display()
        )
    })?;
    let mut best: Option<(u32, u32)> = None;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some((major, minor)) = name.strip_prefix('v').and_then(|v| v.split_once('.')) else {
            continue;
        };
        if let (Ok(a), Ok(b)) = (major.parse(), minor.parse()) {
            best = best.max(Some((a, b)));
        }
    }
    let (a, b) = best.with_context(|| format!("no schema versions in {}", dir.display()))?;
    Ok(format!("{a}.{b}"))
}

/// Every violation of the official schema of `version`, each with its JSON path.
fn validate(manifest: &Value, version: &str) -> Result<Vec<String>> {
    let path = schema_root().join(format!("v{version}/MicrosoftTeams.schema.json"));
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "no schema for manifest version {version} ({})",
            path.display()
        )
    })?;
    let schema: Value = serde_json::from_str(&text)?;
    // The files say draft-04 but use `const` (draft 6+) for manifestVersion and no draft-4-only
    // keyword, so draft 7 checks everything they mean.
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft7)
        .build(&schema)
        .map_err(|e| anyhow::anyhow!("schema {} does not compile: {e}", path.display()))?;
    let mut out: Vec<String> = validator
        .iter_errors(manifest)
        .map(|e| {
            let at = e.instance_path().to_string();
            format!("{}: {e}", if at.is_empty() { "/".to_string() } else { at })
        })
        .collect();
    out.sort();
    Ok(out)
}

fn write_zip(out: &Path, manifest: &Value, color: &[u8], outline: &[u8]) -> Result<()> {
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    // Written beside the target and renamed: a failure never leaves a partial zip.
    let tmp = out.with_extension("zip.partial");
    {
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&tmp)?);
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        zip.start_file("manifest.json", opts)?;
        zip.write_all(serde_json::to_string_pretty(manifest)?.as_bytes())?;
        zip.start_file(COLOR, opts)?;
        zip.write_all(color)?;
        zip.start_file(OUTLINE, opts)?;
        zip.write_all(outline)?;
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
    problems.extend(validate(&manifest, &version)?);
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

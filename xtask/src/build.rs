//! `cargo xtask build`, and the page build every other task that needs the page runs:
//! Trunk, then the headers for static hosts and the precompressed copies.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};

use crate::setup::{self, root, run as sh, tool_path};

/// Options of `build`.
#[derive(Default)]
pub struct Build {
    pub release: bool,
    pub public_url: Option<String>,
    pub dist: Option<String>,
}

/// Arguments of `build`.
#[derive(clap::Args)]
pub struct BuildArgs {
    /// Build with the `page` profile (small wasm, minified, brotli 11).
    #[arg(long)]
    release: bool,
    /// Where the page will be served from (a path like /connector/ or an absolute url).
    #[arg(long, value_name = "PATH")]
    public_url: Option<String>,
}

pub fn build_cmd(args: &BuildArgs) -> Result<()> {
    setup::page_tools()?;
    build_page(&Build {
        release: args.release,
        public_url: args.public_url.clone(),
        dist: None,
    })?;
    crate::admin_page::build(args.release, None).map(drop)
}

/// Builds the page with Trunk into `dist/` (or `opts.dist`), with its headers for static hosts
/// and precompressed copies of its files.
pub fn build_page(opts: &Build) -> Result<()> {
    build_page_for(opts, None)
}

/// The page's entries: (Trunk's target, its HTML in `dist`). The configuration page first
/// (its Trunk run empties `dist`), then the tab page, each its own wasm binary.
pub const ENTRIES: [(&str, &str); 2] = [("index.html", "index.html"), ("tab.html", "tab.html")];

/// The HTML file of each page, the configuration page's first.
pub fn entry_pages() -> Vec<&'static str> {
    ENTRIES.iter().map(|(_, html)| *html).collect()
}

/// `build_page` for the connector `connector_toml` names instead of `connector.toml`.
pub fn build_page_for(opts: &Build, connector_toml: Option<&Path>) -> Result<()> {
    // Trunk runs cargo offline (Trunk.toml), so fetch first.
    sh(Command::new("cargo").arg("fetch").current_dir(root()))?;
    let dist = opts
        .dist
        .as_ref()
        .map_or_else(|| root().join("dist"), std::path::PathBuf::from);
    let dist = if dist.is_absolute() {
        dist
    } else {
        std::env::current_dir()?.join(dist)
    };
    // Trunk empties its dist directory first: each entry after the first is built into a
    // directory of its own and its files moved into `dist` (the shared ones, such as the
    // CSS and teams-js, have the same hashed names in both).
    let staging = root().join("target/page-entries");
    for (i, (target, html)) in ENTRIES.into_iter().enumerate() {
        let out = if i == 0 {
            dist.clone()
        } else {
            staging.join(html)
        };
        let mut cmd = Command::new("trunk");
        cmd.arg("build")
            .arg(target)
            .arg("--html-output")
            .arg(html)
            .arg("--dist")
            .arg(&out)
            .current_dir(root())
            .env("PATH", tool_path());
        if let Some(toml) = connector_toml {
            cmd.env("CONNECTOR_TOML", toml);
        }
        if opts.release {
            cmd.arg("--release");
        }
        if let Some(url) = &opts.public_url {
            cmd.args(["--public-url", url]);
        }
        sh(&mut cmd)?;
        if i > 0 {
            share_assets(&dist, &out, html)?;
            merge_into(&out, &dist)?;
        }
    }
    write_form(&dist, connector_toml)?;
    crate::headers::write(&dist, &entry_pages(), None)?;
    let quality = if opts.release {
        crate::compress::Quality::Best
    } else {
        crate::compress::Quality::Fast
    };
    crate::compress::precompress(&dist, quality)?;
    Ok(())
}

/// Points a later entry's HTML (`html` in `out`) at the first page's copy of each asset both
/// name (same source, so the same name before Trunk's `-<16 hex>`), with its integrity, and
/// drops the entry's own copy: Trunk's JS minifier does not give the same bytes twice (the
/// handshake got two names), and a person opening both pages should fetch a shared file once.
fn share_assets(dist: &Path, out: &Path, html: &str) -> Result<()> {
    let first = std::fs::read_to_string(dist.join(ENTRIES[0].1))?;
    let path = out.join(html);
    let mut page = std::fs::read_to_string(&path)?;
    let theirs = hashed_names(&first);
    for own in hashed_names(&page) {
        let Some(shared) = theirs.iter().find(|t| stem(t) == stem(&own) && **t != own) else {
            continue;
        };
        let own_file = out.join(&own);
        let (Ok(own_bytes), Ok(shared_bytes)) =
            (std::fs::read(&own_file), std::fs::read(dist.join(shared)))
        else {
            continue;
        };
        page = page
            .replace(&own, shared)
            .replace(&sri(&own_bytes), &sri(&shared_bytes));
        std::fs::remove_file(&own_file)?;
    }
    std::fs::write(&path, page).with_context(|| format!("cannot write {}", path.display()))
}

/// The names `name-<16 hex>.ext` an HTML file refers to (not `name-<hash>_bg.wasm`).
fn hashed_names(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for word in html.split(|c: char| {
        c == '"' || c == '\'' || c == '/' || c == '=' || c.is_whitespace() || c == '>' || c == '<'
    }) {
        if stem(word).is_some() && !out.iter().any(|w| w == word) {
            out.push(word.to_string());
        }
    }
    out
}

/// `name.ext` of `name-<16 hex>.ext`, or `None` when `file` is not such a name.
fn stem(file: &str) -> Option<String> {
    let (base, ext) = file.split_once('.')?;
    let (name, hash) = base.rsplit_once('-')?;
    (hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) && !name.is_empty())
        .then(|| format!("{name}.{ext}"))
}

/// A subresource-integrity value as Trunk writes it.
fn sri(bytes: &[u8]) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    format!(
        "sha384-{}",
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha384::digest(bytes))
    )
}

/// Moves the files of one entry's Trunk output into `dist`, replacing same-named ones.
fn merge_into(from: &Path, dist: &Path) -> Result<()> {
    for entry in
        std::fs::read_dir(from).with_context(|| format!("cannot read {}", from.display()))?
    {
        let entry = entry?;
        let to = dist.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            std::fs::create_dir_all(&to)?;
            merge_into(&entry.path(), &to)?;
        } else {
            std::fs::copy(entry.path(), &to).with_context(|| {
                format!("cannot copy {} to {}", entry.path().display(), to.display())
            })?;
        }
    }
    Ok(())
}

/// Writes `dist/form.txt`: the fingerprint of the form the page was built from, which the
/// server compares with its own before serving it. Asked of the settings crate built as the
/// page's was (the same CONNECTOR_TOML), not of xtask's own copy.
fn write_form(dist: &std::path::Path, connector_toml: Option<&Path>) -> Result<()> {
    let mut cmd = Command::new("cargo");
    if let Some(toml) = connector_toml {
        cmd.env("CONNECTOR_TOML", toml);
    }
    let out = cmd
        .args([
            "run",
            "--quiet",
            "-p",
            "connector-settings",
            "--bin",
            "connector-form",
        ])
        .current_dir(root())
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("cannot run cargo run --bin connector-form")?;
    anyhow::ensure!(
        out.status.success(),
        "cargo run --bin connector-form failed"
    );
    let form = String::from_utf8_lossy(&out.stdout).trim().to_string();
    anyhow::ensure!(
        form.len() == 16 && form.bytes().all(|b| b.is_ascii_hexdigit()),
        "connector-form printed '{form}', not a fingerprint"
    );
    let file = dist.join(connector_settings::api::FORM_FILE);
    std::fs::write(&file, format!("{form}\n"))
        .with_context(|| format!("cannot write {}", file.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_later_page_shares_the_first_pages_copy_of_an_asset_with_its_integrity() {
        let dist = tempfile::tempdir().unwrap();
        let out = tempfile::tempdir().unwrap();
        let (first, own) = (b"first minified".as_slice(), b"own minified".as_slice());
        std::fs::write(dist.path().join("handshake-00000000000000aa.js"), first).unwrap();
        std::fs::write(out.path().join("handshake-00000000000000bb.js"), own).unwrap();
        std::fs::write(
            out.path().join("teams-connector-tab-00000000000000cc.js"),
            "glue",
        )
        .unwrap();
        std::fs::write(
            dist.path().join("index.html"),
            format!(
                "<script integrity={} src=/p/handshake-00000000000000aa.js></script>\
                 <script>import init from '/p/teams-connector-00000000000000dd.js'</script>",
                sri(first)
            ),
        )
        .unwrap();
        std::fs::write(
            out.path().join("tab.html"),
            format!(
                "<script integrity={} src=/p/handshake-00000000000000bb.js></script>\
                 <script>import init from '/p/teams-connector-tab-00000000000000cc.js'</script>",
                sri(own)
            ),
        )
        .unwrap();
        share_assets(dist.path(), out.path(), "tab.html").unwrap();
        let tab = std::fs::read_to_string(out.path().join("tab.html")).unwrap();
        assert!(
            tab.contains(&format!(
                "integrity={} src=/p/handshake-00000000000000aa.js",
                sri(first)
            )),
            "{tab}"
        );
        assert!(
            !tab.contains("00000000000000bb") && !tab.contains(&sri(own)),
            "{tab}"
        );
        assert!(!out.path().join("handshake-00000000000000bb.js").exists());
        // Its own glue (another name before the hash) stays.
        assert!(
            tab.contains("teams-connector-tab-00000000000000cc.js"),
            "{tab}"
        );
        assert!(out
            .path()
            .join("teams-connector-tab-00000000000000cc.js")
            .exists());
        assert_eq!(
            stem("main-9939d0f4bd700964.css").as_deref(),
            Some("main.css")
        );
        assert_eq!(stem("teams-connector-4f9e7f4c595c565b_bg.wasm"), None);
    }
}

//! `cargo xtask image`: a `FROM scratch` container image of the server and its page, built
//! with podman from a context assembled here (no base image, nothing pulled). `--test` then
//! checks it (image_test.rs).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::build::{build_page, Build};
use crate::setup::{self, root, run as sh};

/// The server's target: a static binary needs no libc in the image.
pub const TARGET: &str = "x86_64-unknown-linux-musl";
/// The unprivileged user and group the server runs as (distroless' "nonroot").
pub const UID: u32 = 65532;
/// Where the image keeps the page, the database volume and Debian's CA bundle.
pub const DIST: &str = "/dist";
pub const DATA: &str = "/data";
const CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Arguments of `image`.
#[derive(clap::Args)]
pub struct ImageArgs {
    /// The connector definition to build the page and server from [default: connector.toml].
    #[arg(long, value_name = "FILE")]
    pub connector: Option<PathBuf>,
    /// The image's name [default: teams-connector:<server version>].
    #[arg(long, value_name = "T")]
    pub tag: Option<String>,
    /// The repository URL for the org.opencontainers.image.source label [default: git's
    /// `origin` remote; no label without one].
    #[arg(long, value_name = "URL")]
    pub source: Option<String>,
    /// Then test the image: its configuration, and its root filesystem run in a chroot
    /// until a card is delivered (slow: a release build).
    #[arg(long)]
    pub test: bool,
}

/// What the labels say.
pub struct Labels {
    pub version: String,
    pub licenses: String,
    pub source: Option<String>,
    pub revision: Option<String>,
}

pub fn run(args: &ImageArgs) -> Result<()> {
    let started = std::time::Instant::now();
    if args.test && args.connector.is_some() {
        // The test saves settings through xtask's own copy of the connector definition.
        bail!("--test checks the default connector.toml; build without --connector to test");
    }
    if let Some(file) = &args.connector {
        let file = std::fs::canonicalize(file)
            .with_context(|| format!("connector file {} does not exist", file.display()))?;
        // Read by the settings crate's build script, in the page's build and the server's.
        std::env::set_var("CONNECTOR_TOML", file);
    }
    tools()?;
    let labels = labels(args.source.clone())?;
    let tag = args
        .tag
        .clone()
        .unwrap_or_else(|| format!("teams-connector:{}", labels.version));
    let context = root().join("build/image/context");
    let _ = std::fs::remove_dir_all(&context);
    std::fs::create_dir_all(&context)?;

    println!("xtask: the release page");
    setup::page_tools()?;
    build_page(&Build {
        release: true,
        public_url: None,
        dist: Some(context.join("dist").display().to_string()),
    })?;
    // The operators' console, which the image's server serves on its internal listener.
    crate::admin_page::build(true, Some(&context.join("dist")))?;
    println!("xtask: the server for {TARGET} (release)");
    let binary = build_server()?;
    assemble(&context, &binary)?;
    std::fs::write(context.join("Containerfile"), containerfile(&labels))?;
    // Docker's format: OCI's image config has no HEALTHCHECK, which podman would drop.
    sh(Command::new("podman")
        .args(["build", "--format", "docker", "--tag", &tag, "--file"])
        .arg(context.join("Containerfile"))
        .arg(&context))?;
    let size = image_size(&tag)?;
    println!(
        "xtask: image {tag}: {:.1} MB ({size} bytes), built in {:.0} s",
        size as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    if args.test {
        crate::image_test::run(&tag, &labels, started)?;
    }
    Ok(())
}

/// The musl target, its C compiler (SQLite, ring and mimalloc are C) and podman.
fn tools() -> Result<()> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    if !installed.lines().any(|l| l.trim() == TARGET) {
        println!("xtask: installing the {TARGET} target (rustup)");
        sh(Command::new("rustup").args(["target", "add", TARGET]))?;
    }
    let missing: Vec<&str> = [("musl-gcc", "musl-tools"), ("podman", "podman")]
        .into_iter()
        .filter(|(bin, _)| !on_path(bin))
        .map(|(_, package)| package)
        .collect();
    if !missing.is_empty() {
        println!(
            "xtask: installing Debian's {} (apt-get)",
            missing.join(" and ")
        );
        sh(Command::new("apt-get").arg("update"))?;
        sh(Command::new("apt-get")
            .args(["install", "-y"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"))?;
    }
    if !Path::new(CA_BUNDLE).exists() {
        println!("xtask: installing Debian's ca-certificates (apt-get)");
        sh(Command::new("apt-get")
            .args(["install", "-y", "ca-certificates"])
            .env("DEBIAN_FRONTEND", "noninteractive"))?;
    }
    Ok(())
}

fn on_path(bin: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(bin).is_file()))
}

/// Builds the static server and returns its path.
fn build_server() -> Result<PathBuf> {
    sh(Command::new("cargo")
        .args(["build", "--release", "--target", TARGET])
        .args(["-p", "connector-server", "--bin", "connector-server"])
        .env("CC_x86_64_unknown_linux_musl", "musl-gcc")
        // Symbols are a third of the binary and nobody debugs inside the image.
        .env("CARGO_PROFILE_RELEASE_STRIP", "symbols")
        .current_dir(root()))?;
    let target_dir =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from);
    Ok(target_dir.join(TARGET).join("release/connector-server"))
}

/// The build context: the binary, the page, the CA bundle, a passwd with the server's user
/// and the empty data directory the volume starts from.
fn assemble(context: &Path, binary: &Path) -> Result<()> {
    std::fs::copy(binary, context.join("connector-server"))
        .with_context(|| format!("cannot copy {}", binary.display()))?;
    let etc = context.join("etc");
    std::fs::create_dir_all(etc.join("ssl/certs"))?;
    std::fs::copy(CA_BUNDLE, etc.join("ssl/certs/ca-certificates.crt"))
        .with_context(|| format!("cannot copy {CA_BUNDLE}"))?;
    std::fs::write(
        etc.join("passwd"),
        format!("root:x:0:0:root:/:/sbin/nologin\nconnector:x:{UID}:{UID}:connector:{DATA}:/sbin/nologin\n"),
    )?;
    std::fs::write(
        etc.join("group"),
        format!("root:x:0:\nconnector:x:{UID}:\n"),
    )?;
    std::fs::create_dir_all(context.join("volume/data"))?;
    Ok(())
}

/// The labels: the server's version, the workspace's licence, where the source is.
fn labels(source: Option<String>) -> Result<Labels> {
    let read = |path: &str| -> Result<toml::Value> {
        let text = std::fs::read_to_string(root().join(path))
            .with_context(|| format!("cannot read {path}"))?;
        toml::from_str(&text).with_context(|| format!("{path} is not TOML"))
    };
    let field = |doc: &toml::Value, path: &str, key: &str| -> Result<String> {
        doc.get("package")
            .and_then(|p| p.get(key))
            .and_then(|v| v.as_str())
            .map(str::to_string)
            .with_context(|| format!("{path} has no package.{key}"))
    };
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(root())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .filter(|s| !s.is_empty())
    };
    let source = source.or_else(|| git(&["remote", "get-url", "origin"]));
    if source.is_none() {
        println!("xtask: no --source and no git remote: the image gets no source label");
    }
    Ok(Labels {
        version: field(&read("server/Cargo.toml")?, "server/Cargo.toml", "version")?,
        licenses: field(&read("Cargo.toml")?, "Cargo.toml", "license")?,
        source,
        revision: git(&["rev-parse", "HEAD"]),
    })
}

/// The Containerfile. Scratch has no shell: every instruction is exec form, and the health
/// check is the server's own `healthcheck` command (GET /readyz on loopback).
pub fn containerfile(labels: &Labels) -> String {
    let mut label_lines = vec![
        (
            "org.opencontainers.image.title",
            "teams-connector".to_string(),
        ),
        (
            "org.opencontainers.image.description",
            "Teams connector server and configuration page".to_string(),
        ),
        ("org.opencontainers.image.version", labels.version.clone()),
        ("org.opencontainers.image.licenses", labels.licenses.clone()),
    ];
    if let Some(s) = &labels.source {
        label_lines.push(("org.opencontainers.image.source", s.clone()));
    }
    if let Some(r) = &labels.revision {
        label_lines.push(("org.opencontainers.image.revision", r.clone()));
    }
    let label_lines: Vec<String> = label_lines
        .iter()
        .map(|(k, v)| format!("LABEL {k}={}", serde_json::to_string(v).unwrap()))
        .collect();
    format!(
        "# Written by `cargo xtask image`.\n\
         FROM scratch\n\
         COPY etc/ /etc/\n\
         COPY connector-server /connector-server\n\
         COPY dist/ {DIST}/\n\
         # The data directory itself is copied, so it gets the server's owner.\n\
         COPY --chown={UID}:{UID} volume/ /\n\
         ENV CONNECTOR_HOST=0.0.0.0 \\\n    CONNECTOR_PORT=8080 \\\n    CONNECTOR_DB={DATA}/connector.sqlite \\\n    CONNECTOR_DIST={DIST}\n\
         USER {UID}:{UID}\n\
         EXPOSE 8080\n\
         VOLUME {DATA}\n\
         # Orchestrators that probe over HTTP should use GET /readyz (and /healthz for liveness).\n\
         HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 CMD [\"/connector-server\", \"healthcheck\"]\n\
         {}\n\
         ENTRYPOINT [\"/connector-server\"]\n",
        label_lines.join("\n")
    )
}

fn image_size(tag: &str) -> Result<u64> {
    let out = Command::new("podman")
        .args(["image", "inspect", "--format", "{{.Size}}", tag])
        .output()
        .context("cannot run podman image inspect")?;
    if !out.status.success() {
        bail!(
            "podman image inspect {tag} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim()
        .parse()
        .with_context(|| format!("podman gave the size '{}'", text.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_containerfile_runs_the_server_unprivileged_with_its_defaults() {
        let file = containerfile(&Labels {
            version: "1.2.3".into(),
            licenses: "MIT".into(),
            source: Some("https://example.com/repo".into()),
            revision: None,
        });
        for line in [
            "FROM scratch",
            "USER 65532:65532",
            "EXPOSE 8080",
            "VOLUME /data",
            "ENTRYPOINT [\"/connector-server\"]",
            "CMD [\"/connector-server\", \"healthcheck\"]",
            "LABEL org.opencontainers.image.version=\"1.2.3\"",
            "LABEL org.opencontainers.image.licenses=\"MIT\"",
            "LABEL org.opencontainers.image.source=\"https://example.com/repo\"",
            "CONNECTOR_DB=/data/connector.sqlite",
            "CONNECTOR_HOST=0.0.0.0",
        ] {
            assert!(file.contains(line), "no '{line}' in:\n{file}");
        }
        assert!(!file.contains("revision"));
        // No shell in scratch: no instruction in shell form.
        assert!(!file.contains("RUN "));
    }
}

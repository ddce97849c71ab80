//! Installs what the project needs and is missing, printing each install; skips what is
//! already there. Nothing here downloads a binary from outside the package registries.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

pub const TRUNK_VERSION: &str = "0.21.14";

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Runs `cmd`, failing with its name when it fails.
pub fn run(cmd: &mut Command) -> Result<()> {
    let shown = format!("{cmd:?}");
    let status = cmd
        .status()
        .with_context(|| format!("cannot start {shown}"))?;
    if !status.success() {
        bail!("{shown} failed with {status}");
    }
    Ok(())
}

fn output(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn say(what: &str) {
    println!("xtask: installing {what}");
}

/// Everything a page build needs.
pub fn page_tools() -> Result<()> {
    wasm_target()?;
    npm_packages()?;
    wasm_bindgen()?;
    trunk()?;
    Ok(())
}

/// Everything `run` and `test` need: the page's tools plus the browser.
pub fn all() -> Result<()> {
    page_tools()?;
    chromium()?;
    Ok(())
}

/// rustfmt and clippy, which `test` runs first (a minimal rustup profile has neither).
pub fn lint_tools() -> Result<()> {
    let installed = output("rustup", &["component", "list", "--installed"]).unwrap_or_default();
    for component in ["rustfmt", "clippy"] {
        if !installed
            .lines()
            .any(|l| l.starts_with(&format!("{component}-")))
        {
            say(&format!("the {component} component (rustup)"));
            run(Command::new("rustup").args(["component", "add", component]))?;
        }
    }
    Ok(())
}

/// Schemathesis, which `test` runs against the server's OpenAPI document.
pub const SCHEMATHESIS_VERSION: &str = "4.32.5";

pub fn schemathesis() -> Result<()> {
    let have = output("schemathesis", &["--version"]).unwrap_or_default();
    if !have.contains(SCHEMATHESIS_VERSION) {
        say(&format!("schemathesis {SCHEMATHESIS_VERSION} (pip)"));
        run(Command::new("python3").args([
            "-m",
            "pip",
            "install",
            "--quiet",
            &format!("schemathesis=={SCHEMATHESIS_VERSION}"),
        ]))?;
    }
    Ok(())
}

/// The official Standard Webhooks library for Python, with which the events tests sign as
/// a sender would (the JavaScript one is an npm devDependency).
pub const STANDARDWEBHOOKS_PY_VERSION: &str = "1.1.0";

pub fn sender_libraries() -> Result<()> {
    let have = output(
        "python3",
        &[
            "-c",
            "import importlib.metadata as m; print(m.version('standardwebhooks'))",
        ],
    )
    .unwrap_or_default();
    if have.trim() != STANDARDWEBHOOKS_PY_VERSION {
        say(&format!(
            "standardwebhooks {STANDARDWEBHOOKS_PY_VERSION} (pip)"
        ));
        run(Command::new("python3").args([
            "-m",
            "pip",
            "install",
            "--quiet",
            &format!("standardwebhooks=={STANDARDWEBHOOKS_PY_VERSION}"),
        ]))?;
    }
    Ok(())
}

fn wasm_target() -> Result<()> {
    let installed = output("rustup", &["target", "list", "--installed"]).unwrap_or_default();
    if !installed
        .lines()
        .any(|l| l.trim() == "wasm32-unknown-unknown")
    {
        say("the wasm32-unknown-unknown target (rustup)");
        run(Command::new("rustup").args(["target", "add", "wasm32-unknown-unknown"]))?;
    }
    Ok(())
}

fn trunk() -> Result<()> {
    let have = output("trunk", &["--version"]).unwrap_or_default();
    if !have.contains(TRUNK_VERSION) {
        say(&format!(
            "trunk {TRUNK_VERSION} (cargo install, about 10 minutes)"
        ));
        run(Command::new("cargo").args([
            "install",
            &format!("trunk@{TRUNK_VERSION}"),
            "--locked",
        ]))?;
    }
    Ok(())
}

/// The wasm-bindgen version in Cargo.lock: the CLI must match it exactly.
pub fn wasm_bindgen_version() -> Result<String> {
    let lock =
        std::fs::read_to_string(root().join("Cargo.lock")).context("cannot read Cargo.lock")?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line == "name = \"wasm-bindgen\"" {
            if let Some(v) = lines.next().and_then(|l| l.strip_prefix("version = \"")) {
                return Ok(v.trim_end_matches('"').to_string());
            }
        }
    }
    bail!("Cargo.lock names no wasm-bindgen package")
}

fn wasm_bindgen() -> Result<()> {
    let want = wasm_bindgen_version()?;
    let have = output("wasm-bindgen", &["--version"]).unwrap_or_default();
    let runner = output("wasm-bindgen-test-runner", &["--version"]).unwrap_or_default();
    if !have.contains(&want) || !runner.contains(&want) {
        say(&format!(
            "wasm-bindgen-cli {want} (cargo install, about 3 minutes)"
        ));
        // Not --locked: the CLI's own lock file pins dependencies that no longer build.
        run(Command::new("cargo").args(["install", &format!("wasm-bindgen-cli@{want}")]))?;
    }
    Ok(())
}

/// teams-js and esbuild (which bundles it) for the page, binaryen's wasm-opt, playwright-core
/// for the end-to-end tests, the Teams schemas (`@microsoft/app-manifest`) for `package`.
pub fn npm_packages() -> Result<()> {
    let root = root();
    let lock_file = root.join("package-lock.json");
    let installed = || -> Result<bool> {
        let fresh = match (
            std::fs::metadata(root.join("node_modules/.package-lock.json")),
            std::fs::metadata(&lock_file),
        ) {
            (Ok(s), Ok(l)) => s.modified()? >= l.modified()?,
            _ => false,
        };
        Ok(fresh
            && root.join("node_modules/.bin/wasm-opt").exists()
            && root.join("node_modules/.bin/esbuild").exists()
            && root.join("node_modules/@microsoft/app-manifest").exists())
    };
    if installed()? {
        return Ok(());
    }
    // Several xtask processes (parallel tests) may get here at once: one runs npm ci while
    // the others wait, then find it done. The lock is advisory; npm itself ignores it.
    let lock = std::fs::File::open(&lock_file)
        .with_context(|| format!("cannot open {}", lock_file.display()))?;
    lock.lock()
        .with_context(|| format!("cannot lock {}", lock_file.display()))?;
    if !installed()? {
        say("npm packages from package-lock.json (npm ci)");
        run(Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&root))?;
    }
    Ok(())
}

/// Prometheus's promtool, with which `test` checks and unit-tests deploy/alerts.yml.
pub fn promtool() -> Result<()> {
    if output("promtool", &["--version"]).is_some() {
        return Ok(());
    }
    say("Debian's prometheus, for promtool (apt-get)");
    run(Command::new("apt-get").arg("update"))?;
    run(Command::new("apt-get")
        .args(["install", "-y", "--no-install-recommends", "prometheus"])
        .env("DEBIAN_FRONTEND", "noninteractive"))?;
    Ok(())
}

fn chromium() -> Result<()> {
    if Path::new("/usr/bin/chromium").exists() && Path::new("/usr/bin/chromedriver").exists() {
        return Ok(());
    }
    say("Debian's chromium and chromium-driver (apt-get)");
    run(Command::new("apt-get").arg("update"))?;
    run(Command::new("apt-get")
        .args(["install", "-y", "chromium", "chromium-driver"])
        .env("DEBIAN_FRONTEND", "noninteractive"))?;
    Ok(())
}

/// PATH with `node_modules/.bin` (wasm-opt) and cargo's bin directory first.
pub fn tool_path() -> String {
    let mut parts = vec![root().join("node_modules/.bin").display().to_string()];
    if let Some(home) = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
    {
        parts.push(home.join("bin").display().to_string());
    }
    parts.push(std::env::var("PATH").unwrap_or_default());
    parts.join(":")
}

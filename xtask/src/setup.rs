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

/// One thing a task may install, so a task's needs are a list that can be read (and tested)
/// before anything is installed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tool {
    /// rustup's wasm32-unknown-unknown target.
    WasmTarget,
    /// package-lock.json's packages (npm ci): esbuild, wasm-opt, teams-js, the Teams schemas.
    NpmPackages,
    /// wasm-bindgen-cli at Cargo.lock's version (cargo install).
    WasmBindgen,
    /// Trunk (cargo install).
    Trunk,
    /// Debian's chromium and chromium-driver (apt-get, root): only the browser tests.
    Chromium,
    /// Debian's postgresql (apt-get, root): only the tests on PostgreSQL.
    Postgres,
    /// rustfmt and clippy (rustup): only `test`'s lint step.
    LintTools,
    /// The Python Standard Webhooks library (pip): only the events tests.
    SenderLibraries,
    /// Schemathesis (pip): only the OpenAPI tests.
    Schemathesis,
}

impl Tool {
    /// Whether installing it takes root (apt-get; only ever run when it is missing). What the
    /// tests hold `RUN` to.
    #[cfg(test)]
    pub fn needs_root(self) -> bool {
        matches!(self, Tool::Chromium | Tool::Postgres)
    }

    /// Installs it if it is missing.
    pub fn install(self) -> Result<()> {
        match self {
            Tool::WasmTarget => wasm_target(),
            Tool::NpmPackages => npm_packages(),
            Tool::WasmBindgen => wasm_bindgen(),
            Tool::Trunk => trunk(),
            Tool::Chromium => chromium(),
            Tool::Postgres => postgres_bin().map(drop),
            Tool::LintTools => lint_tools(),
            Tool::SenderLibraries => sender_libraries(),
            Tool::Schemathesis => schemathesis(),
        }
    }
}

/// What building the page needs (and so `run`, `build`, `dist`, `size`, `image`).
pub const PAGE: &[Tool] = &[
    Tool::WasmTarget,
    Tool::NpmPackages,
    Tool::WasmBindgen,
    Tool::Trunk,
];

/// What `cargo xtask run` needs: the page's tools and nothing the tests alone need (no
/// browser, no PostgreSQL, so no root once the Rust and Node tools are there).
pub const RUN: &[Tool] = PAGE;

/// What `cargo xtask test` needs: the page's tools, the browser, PostgreSQL (unless
/// CONNECTOR_TEST_DATABASE_URL names a server; postgres.rs installs it then), the lint
/// components and the sender library.
pub const TEST: &[Tool] = &[
    Tool::WasmTarget,
    Tool::NpmPackages,
    Tool::WasmBindgen,
    Tool::Trunk,
    Tool::Chromium,
    Tool::LintTools,
    Tool::SenderLibraries,
    Tool::Schemathesis,
];

/// What `cargo xtask setup` installs: everything `test` needs, PostgreSQL included.
pub const SETUP: &[Tool] = &[
    Tool::WasmTarget,
    Tool::NpmPackages,
    Tool::WasmBindgen,
    Tool::Trunk,
    Tool::Chromium,
    Tool::LintTools,
    Tool::SenderLibraries,
    Tool::Schemathesis,
    Tool::Postgres,
];

/// What the page benchmark needs: the page's tools and the browser it measures in.
pub const BENCH_PAGE: &[Tool] = &[
    Tool::WasmTarget,
    Tool::NpmPackages,
    Tool::WasmBindgen,
    Tool::Trunk,
    Tool::Chromium,
];

/// Installs whichever of `tools` is missing.
pub fn install(tools: &[Tool]) -> Result<()> {
    tools.iter().try_for_each(|t| t.install())
}

/// Everything a page build needs.
pub fn page_tools() -> Result<()> {
    install(PAGE)
}

/// rustfmt and clippy, which `test` runs first (a minimal rustup profile has neither).
fn lint_tools() -> Result<()> {
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

fn schemathesis() -> Result<()> {
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

fn sender_libraries() -> Result<()> {
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

/// The newest installed server's bin directory, e.g. /usr/lib/postgresql/15/bin.
fn bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let v = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("pg_ctl").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

/// The PostgreSQL server's bin directory, installing Debian's postgresql when no server is
/// installed.
pub fn postgres_bin() -> Result<PathBuf> {
    if let Some(bin) = bin_dir() {
        return Ok(bin);
    }
    println!("xtask: installing Debian's postgresql (apt-get), for the tests on PostgreSQL");
    run(Command::new("apt-get").arg("update"))?;
    run(Command::new("apt-get")
        .args(["install", "-y", "--no-install-recommends", "postgresql"])
        .env("DEBIAN_FRONTEND", "noninteractive"))?;
    bin_dir().context("postgresql was installed but no /usr/lib/postgresql/*/bin/pg_ctl exists")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_installs_the_page_tools_and_nothing_the_tests_alone_need() {
        assert_eq!(
            RUN,
            [
                Tool::WasmTarget,
                Tool::NpmPackages,
                Tool::WasmBindgen,
                Tool::Trunk
            ]
        );
        for tool in RUN {
            assert!(!tool.needs_root(), "run would need root for {tool:?}");
        }
        assert!(TEST.contains(&Tool::Chromium) && SETUP.contains(&Tool::Postgres));
    }

    #[test]
    fn every_task_that_builds_the_page_installs_what_the_page_needs() {
        for list in [RUN, TEST, SETUP, BENCH_PAGE] {
            for tool in PAGE {
                assert!(list.contains(tool), "{list:?} lacks {tool:?}");
            }
        }
    }

    /// Every task installs what it needs: none may stop and tell its user to install
    /// something (as `package` once asked for `npm ci`).
    #[test]
    fn no_task_tells_its_user_to_run_an_install_command() {
        // Built here, so this file does not match itself.
        let needles: Vec<String> = ["npm", "cargo install", "apt", "rustup", "pip", "trunk"]
            .iter()
            .flat_map(|tool| [format!("run {tool}"), format!("run `{tool}")])
            .chain([
                ["please", "install"].join(" "),
                ["install it", "first"].join(" "),
            ])
            .collect();
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = Vec::new();
        let mut todo = vec![dir.join("src"), dir.join("tests")];
        while let Some(d) = todo.pop() {
            for entry in std::fs::read_dir(&d).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    todo.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    files.push(path);
                }
            }
        }
        assert!(files.len() > 10, "found only {files:?}");
        let mut found = Vec::new();
        for file in &files {
            let text = std::fs::read_to_string(file).unwrap().to_lowercase();
            for (n, line) in text.lines().enumerate() {
                for needle in &needles {
                    if line.contains(needle.as_str()) {
                        found.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
                    }
                }
            }
        }
        assert!(
            found.is_empty(),
            "tasks telling users to install:\n{}",
            found.join("\n")
        );
    }
}

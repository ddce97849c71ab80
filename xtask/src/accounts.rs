//! Sign-in to the sending service (`[account]` in the connector): the loopback identity provider
//! `run` starts for a person to try it (e2e/oidc/provider.mjs, the one the tests use), and the
//! builds for the second connector the end-to-end accounts tests run against.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{bail, Context, Result};

use crate::build::{build_page_for, Build};
use crate::setup::run as sh;

/// The client secret the local provider and the dev server share (never a deployment's).
pub const DEV_CLIENT_SECRET: &str = "dev-account-client-secret-not-for-production";

/// The provider's demo users: login name, account, name (as e2e/oidc/provider.mjs has them).
pub const DEMO_USERS: [(&str, &str, &str); 2] = [
    ("alice", "acme", "Alice Example"),
    ("bob", "globex", "Bob Example"),
];

/// The running identity provider; stopped when dropped (and by itself when this process
/// ends, as its stdin is our pipe).
pub struct Provider {
    child: Child,
    pub issuer: String,
}

impl Provider {
    /// Starts it on a free loopback port for `client_id`, which may redirect to `redirects`.
    pub fn start(
        root: &Path,
        client_id: &str,
        secret: &str,
        redirects: &[String],
    ) -> Result<Provider> {
        let mut cmd = Command::new("node");
        cmd.arg(root.join("e2e/oidc/provider.mjs"))
            .args(["--port", "0", "--client-id", client_id])
            .args(["--client-secret", secret]);
        for uri in redirects {
            cmd.args(["--redirect-uri", uri]);
        }
        let mut child = cmd
            .current_dir(root)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("cannot start node e2e/oidc/provider.mjs")?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped"))
            .read_line(&mut line)
            .context("cannot read the identity provider's issuer")?;
        let mut provider = Provider {
            child,
            issuer: String::new(),
        };
        provider.issuer = match issuer_of(&line) {
            Some(issuer) => issuer,
            None => bail!(
                "the identity provider printed '{}' instead of its issuer",
                line.trim()
            ),
        };
        Ok(provider)
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The issuer in the provider's first line, `{"issuer":"http://127.0.0.1:PORT"}`.
fn issuer_of(line: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(line.trim()).ok()?;
    value.get("issuer")?.as_str().map(str::to_string)
}

/// Builds the server for `connector_toml` and copies it to `build/accounts-server`, apart from
/// the default build's. Run while the settings crate is built for that connector anyway (cargo
/// rebuilds it and its dependents when the connector changes): then only the binary is linked.
pub fn build_server_for(root: &Path, connector_toml: &Path) -> Result<PathBuf> {
    sh(Command::new("cargo")
        .args([
            "build",
            "--quiet",
            "-p",
            "connector-server",
            "--bin",
            "connector-server",
        ])
        .env("CONNECTOR_TOML", connector_toml)
        .current_dir(root))?;
    let server = root.join("build/accounts-server");
    // A copy, not a link: the next default build replaces target/debug/connector-server.
    let _ = std::fs::remove_file(&server);
    std::fs::copy(root.join("target/debug/connector-server"), &server)
        .with_context(|| format!("cannot copy the server to {}", server.display()))?;
    Ok(server)
}

/// Builds the page for `connector_toml` into `build/accounts-dist`, leaving `dist/` as it is.
pub fn build_page_for_accounts(root: &Path, connector_toml: &Path) -> Result<PathBuf> {
    let dist = root.join("build/accounts-dist");
    build_page_for(
        &Build {
            dist: Some(dist.display().to_string()),
            ..Build::default()
        },
        Some(connector_toml),
    )?;
    Ok(dist)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issuer_line_is_read() {
        assert_eq!(
            issuer_of("{\"issuer\":\"http://127.0.0.1:4011\"}\n").as_deref(),
            Some("http://127.0.0.1:4011")
        );
        assert_eq!(issuer_of("listening\n"), None);
        assert_eq!(issuer_of("{\"other\":1}"), None);
    }

    #[test]
    fn the_provider_starts_and_serves_its_discovery_document() {
        let root = crate::setup::root();
        if !root.join("node_modules/oidc-provider").exists() {
            eprintln!("skipped: node_modules/oidc-provider is not installed (cargo xtask setup)");
            return;
        }
        let redirect = "http://127.0.0.1:9/auth/callback.html".to_string();
        let provider = Provider::start(&root, "c", "s", &[redirect]).unwrap();
        let port: u16 = provider
            .issuer
            .strip_prefix("http://127.0.0.1:")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("issuer {}", provider.issuer));
        // No HTTP client in xtask: a plain HTTP/1.0 request.
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(
            stream,
            "GET /.well-known/openid-configuration HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(
            answer.contains(&format!("\"issuer\":\"{}\"", provider.issuer)),
            "{answer}"
        );
    }
}

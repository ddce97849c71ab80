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

/// A node helper of e2e/ (the identity provider, the https front) that prints one JSON line
/// naming its address; stopped when dropped (and by itself when this process ends, as its
/// stdin is our pipe).
pub struct Helper {
    child: Child,
    /// The address it printed.
    pub url: String,
}

impl Helper {
    /// Runs `node <script> <args>` from `root` and reads `key` from its first line.
    fn start(root: &Path, script: &str, args: &[String], key: &str) -> Result<Helper> {
        let mut child = Command::new("node")
            .arg(root.join(script))
            .args(args)
            .current_dir(root)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("cannot start node {script}"))?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped"))
            .read_line(&mut line)
            .with_context(|| format!("cannot read what {script} printed"))?;
        let mut helper = Helper {
            child,
            url: String::new(),
        };
        helper.url = match value_of(&line, key) {
            Some(url) => url,
            None => bail!("{script} printed '{}' instead of its {key}", line.trim()),
        };
        Ok(helper)
    }

    /// The identity provider on a free loopback port for `client_id`, which may redirect to
    /// `redirects`; `url` is its issuer.
    pub fn provider(
        root: &Path,
        client_id: &str,
        secret: &str,
        redirects: &[String],
    ) -> Result<Helper> {
        let mut args: Vec<String> = [
            "--port",
            "0",
            "--client-id",
            client_id,
            "--client-secret",
            secret,
        ]
        .map(String::from)
        .to_vec();
        for uri in redirects {
            args.extend(["--redirect-uri".to_string(), uri.clone()]);
        }
        Helper::start(root, "e2e/oidc/provider.mjs", &args, "issuer")
    }

    /// An https front on loopback `port` for the server at `target`, answering
    /// `config_json` for the page's config.json: teams-js opens the sign-in only on https.
    pub fn https_front(root: &Path, target: &str, port: u16, config_json: &str) -> Result<Helper> {
        let port = port.to_string();
        let args = [
            "--target",
            target,
            "--port",
            &port,
            "--config-json",
            config_json,
        ]
        .map(String::from);
        Helper::start(root, "e2e/https-front.mjs", &args, "url")
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The string `key` in a helper's first line, e.g. `{"issuer":"http://127.0.0.1:PORT"}`.
fn value_of(line: &str, key: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(line.trim()).ok()?;
    value.get(key)?.as_str().map(str::to_string)
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
    std::fs::create_dir_all(root.join("build"))?;
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
    fn the_address_line_is_read() {
        assert_eq!(
            value_of("{\"issuer\":\"http://127.0.0.1:4011\"}\n", "issuer").as_deref(),
            Some("http://127.0.0.1:4011")
        );
        assert_eq!(value_of("listening\n", "issuer"), None);
        assert_eq!(value_of("{\"other\":1}", "issuer"), None);
    }

    #[test]
    fn the_provider_starts_and_serves_its_discovery_document() {
        let root = crate::setup::root();
        if !root.join("node_modules/oidc-provider").exists() {
            eprintln!("skipped: node_modules/oidc-provider is not installed (cargo xtask setup)");
            return;
        }
        let redirect = "http://127.0.0.1:9/auth/callback.html".to_string();
        let provider = Helper::provider(&root, "c", "s", &[redirect]).unwrap();
        let port: u16 = provider
            .url
            .strip_prefix("http://127.0.0.1:")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("issuer {}", provider.url));
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
            answer.contains(&format!("\"issuer\":\"{}\"", provider.url)),
            "{answer}"
        );
    }
}

//! `cargo xtask dist`: a deployable `dist/` for a static host or CDN. One build serves
//! several environments; what differs between them is written to `config.json`.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};

use crate::build::{build_page, Build};
use crate::setup::{self, root};

/// Options of `dist`.
#[derive(clap::Parser, Debug, PartialEq)]
#[command(name = "dist")]
pub struct Dist {
    /// The server's base url, e.g. https://connector-api.example.com.
    #[arg(long, value_name = "URL")]
    pub api_url: String,
    /// Where the page will be served from (a path like /connector/ or an absolute url).
    #[arg(long, value_name = "PATH")]
    pub public_url: Option<String>,
    /// An origin the page accepts messages from besides Teams' own (repeatable).
    #[arg(long = "valid-origin", value_name = "ORIGIN")]
    pub valid_origins: Vec<String>,
    /// The directory to write [default: dist/].
    #[arg(long, value_name = "DIR")]
    pub out: Option<String>,
    /// A debug build of the page instead of the release build.
    #[arg(long)]
    pub debug: bool,
    /// The server posts as the app's bot (`--bot-app-id`, `--bot-app-password`): a tab's
    /// configuration asks it whether the app is in the tab's team (`"bot": true`).
    #[arg(long)]
    pub bot: bool,
}

impl Dist {
    /// Checks the urls and origins before anything is built.
    pub fn check(&self) -> Result<()> {
        origin(&self.api_url)?;
        for o in &self.valid_origins {
            if origin(o)? != o.trim_end_matches('/') {
                bail!("valid origin '{o}' must be an origin only, like https://host:port");
            }
        }
        if let Some(p) = &self.public_url {
            if !p.starts_with('/') && !p.starts_with("https://") && !p.starts_with("http://") {
                bail!("public url '{p}' must be a path like /connector/ or an absolute url");
            }
        }
        Ok(())
    }
}

/// `scheme://host[:port]` of `url`.
pub fn origin(url: &str) -> Result<String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        bail!("url '{url}' must start with https:// (or http:// for local tests)");
    };
    if scheme != "https" && scheme != "http" {
        bail!("url '{url}' must start with https:// (or http:// for local tests)");
    }
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() || host.contains('@') {
        bail!("url '{url}' has no valid host");
    }
    Ok(format!("{scheme}://{host}"))
}

pub fn run(d: &Dist) -> Result<()> {
    d.check()?;
    setup::page_tools()?;
    let out = d
        .out
        .clone()
        .map_or_else(|| root().join("dist"), PathBuf::from);
    build_page(&Build {
        release: !d.debug,
        public_url: d.public_url.clone(),
        dist: Some(out.display().to_string()),
    })?;
    write_config(&out, d)?;
    println!(
        "xtask: {} is ready for a static host (api {})",
        out.display(),
        d.api_url
    );
    Ok(())
}

/// Writes `config.json` and `_headers` (whose CSP must let the page reach the API).
pub fn write_config(out: &std::path::Path, d: &Dist) -> Result<()> {
    let mut config = serde_json::json!({
        "apiBaseUrl": d.api_url.trim_end_matches('/'),
        "validMessageOrigins": d
            .valid_origins
            .iter()
            .map(|o| o.trim_end_matches('/'))
            .collect::<Vec<_>>(),
    });
    if d.bot {
        config["bot"] = true.into();
    }
    let config = serde_json::to_string_pretty(&config)? + "\n";
    std::fs::write(out.join("config.json"), config).context("cannot write config.json")?;
    crate::headers::write(
        out,
        &crate::build::entry_pages(),
        Some(&origin(&d.api_url)?),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// `dist` parsed from `args` and checked.
    fn parse(args: &[&str]) -> Result<Dist> {
        let d = Dist::try_parse_from(std::iter::once("dist").chain(args.iter().copied()))?;
        d.check()?;
        Ok(d)
    }

    #[test]
    fn options_are_parsed_and_checked() {
        let d = parse(&[
            "--api-url",
            "https://api.example.com/",
            "--public-url",
            "/connector/",
            "--valid-origin",
            "http://127.0.0.1:8080",
        ])
        .unwrap();
        assert_eq!(d.public_url.as_deref(), Some("/connector/"));
        assert_eq!(d.valid_origins, ["http://127.0.0.1:8080"]);
        assert!(parse(&[])
            .unwrap_err()
            .to_string()
            .contains("--api-url <URL>"));
        assert!(parse(&["--api-url", "ftp://x"])
            .unwrap_err()
            .to_string()
            .contains("'ftp://x'"));
        assert!(parse(&["--api-url", "https://a", "--valid-origin", "https://b/path"]).is_err());
        assert!(parse(&["--api-url", "https://a", "--public-url", "sub"]).is_err());
    }

    #[test]
    fn config_and_headers_name_the_api() {
        let dir = std::env::temp_dir().join(format!("xtask-dist-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("index.html"),
            "<script type=\"module\">x()</script>",
        )
        .unwrap();
        let d = parse(&[
            "--api-url",
            "https://api.example.com",
            "--valid-origin",
            "http://127.0.0.1:1",
        ])
        .unwrap();
        write_config(&dir, &d).unwrap();
        let config: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
        assert_eq!(
            config,
            serde_json::json!({
                "apiBaseUrl": "https://api.example.com",
                "validMessageOrigins": ["http://127.0.0.1:1"],
            })
        );
        let headers = std::fs::read_to_string(dir.join("_headers")).unwrap();
        assert!(headers
            .contains("connect-src 'self' https://res.cdn.office.net https://api.example.com"));
        // With the app's bot the page asks whether the app is in the tab's team.
        let d = parse(&["--api-url", "https://api.example.com", "--bot"]).unwrap();
        write_config(&dir, &d).unwrap();
        let config: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
        assert_eq!(config["bot"], true);
        std::fs::remove_dir_all(dir).unwrap();
    }
}

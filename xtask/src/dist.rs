//! `cargo xtask dist`: a deployable `dist/` for a static host or CDN. One build serves
//! several environments; what differs between them is written to `config.json`.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};

use crate::setup::{self, root};
use crate::tasks::{build_page, Build};

/// Options of `dist`.
#[derive(Default, Debug, PartialEq)]
pub struct Dist {
    pub api_url: String,
    pub public_url: Option<String>,
    pub valid_origins: Vec<String>,
    pub out: Option<String>,
    pub release: bool,
}

pub fn parse(args: &[String]) -> Result<Dist> {
    let mut d = Dist {
        release: true,
        ..Dist::default()
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .with_context(|| format!("{name} needs a value"))
        };
        match a.as_str() {
            "--api-url" => d.api_url = value("--api-url")?,
            "--public-url" => d.public_url = Some(value("--public-url")?),
            "--valid-origin" => d.valid_origins.push(value("--valid-origin")?),
            "--out" => d.out = Some(value("--out")?),
            "--debug" => d.release = false,
            other => bail!("unknown dist option '{other}'"),
        }
    }
    if d.api_url.is_empty() {
        bail!(
            "--api-url is required: the server's base url, e.g. https://connector-api.example.com"
        );
    }
    origin(&d.api_url)?;
    for o in &d.valid_origins {
        if origin(o)? != o.trim_end_matches('/') {
            bail!("valid origin '{o}' must be an origin only, like https://host:port");
        }
    }
    if let Some(p) = &d.public_url {
        if !p.starts_with('/') && !p.starts_with("https://") && !p.starts_with("http://") {
            bail!("public url '{p}' must be a path like /connector/ or an absolute url");
        }
    }
    Ok(d)
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

pub fn run(args: &[String]) -> Result<()> {
    let d = parse(args)?;
    setup::page_tools()?;
    let out = d
        .out
        .clone()
        .map_or_else(|| root().join("dist"), PathBuf::from);
    build_page(&Build {
        release: d.release,
        public_url: d.public_url.clone(),
        dist: Some(out.display().to_string()),
    })?;
    write_config(&out, &d)?;
    println!(
        "xtask: {} is ready for a static host (api {})",
        out.display(),
        d.api_url
    );
    Ok(())
}

/// Writes `config.json` and `_headers` (whose CSP must let the page reach the API).
pub fn write_config(out: &std::path::Path, d: &Dist) -> Result<()> {
    let config = format!(
        "{{\n  \"apiBaseUrl\": {},\n  \"validMessageOrigins\": [{}]\n}}\n",
        json_string(d.api_url.trim_end_matches('/')),
        d.valid_origins
            .iter()
            .map(|o| json_string(o.trim_end_matches('/')))
            .collect::<Vec<_>>()
            .join(", ")
    );
    std::fs::write(out.join("config.json"), config).context("cannot write config.json")?;
    crate::headers::write(out, Some(&origin(&d.api_url)?))
}

fn json_string(s: &str) -> String {
    let mut out = String::from('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &[&str]) -> Vec<String> {
        s.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn options_are_parsed_and_checked() {
        let d = parse(&args(&[
            "--api-url",
            "https://api.example.com/",
            "--public-url",
            "/connector/",
            "--valid-origin",
            "http://127.0.0.1:8080",
        ]))
        .unwrap();
        assert_eq!(d.public_url.as_deref(), Some("/connector/"));
        assert_eq!(d.valid_origins, ["http://127.0.0.1:8080"]);
        assert!(parse(&args(&[]))
            .unwrap_err()
            .to_string()
            .contains("--api-url is required"));
        assert!(parse(&args(&["--api-url", "ftp://x"]))
            .unwrap_err()
            .to_string()
            .contains("'ftp://x'"));
        assert!(parse(&args(&[
            "--api-url",
            "https://a",
            "--valid-origin",
            "https://b/path"
        ]))
        .is_err());
        assert!(parse(&args(&["--api-url", "https://a", "--public-url", "sub"])).is_err());
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
        let d = parse(&args(&[
            "--api-url",
            "https://api.example.com",
            "--valid-origin",
            "http://127.0.0.1:1",
        ]))
        .unwrap();
        write_config(&dir, &d).unwrap();
        let config = std::fs::read_to_string(dir.join("config.json")).unwrap();
        assert!(
            config.contains("\"apiBaseUrl\": \"https://api.example.com\""),
            "{config}"
        );
        assert!(
            config.contains("\"validMessageOrigins\": [\"http://127.0.0.1:1\"]"),
            "{config}"
        );
        let headers = std::fs::read_to_string(dir.join("_headers")).unwrap();
        assert!(headers
            .contains("connect-src 'self' https://res.cdn.office.net https://api.example.com"));
        std::fs::remove_dir_all(dir).unwrap();
    }
}

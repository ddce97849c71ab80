//! The page's HTTP headers for static hosts: the Content-Security-Policy, `frame-ancestors`
//! for Teams and the cache rules, written as `dist/_headers` (Netlify, Cloudflare Pages and
//! others) and `dist/staticwebapp.config.json` (Azure Static Web Apps). The server serves the
//! `_headers` policy, so static hosts and our server send one policy.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use connector_settings::hosting::FRAME_ANCESTORS;

/// teams-js fetches its list of valid host origins from here when it loads.
const TEAMS_JS_CDN: &str = "https://res.cdn.office.net";

/// The policy for the pages in `dist/`, allowing exactly their inline loader scripts by hash
/// (`pages_html`: the pages' HTML, one after the other).
pub fn content_security_policy(pages_html: &str, api_origin: Option<&str>) -> String {
    let mut script = String::from("'self' 'wasm-unsafe-eval'");
    for body in inline_scripts(pages_html) {
        let _ = write!(script, " 'sha256-{}'", sha256_base64(body.as_bytes()));
    }
    let mut connect = format!("'self' {TEAMS_JS_CDN}");
    if let Some(api) = api_origin.filter(|a| !a.is_empty()) {
        let _ = write!(connect, " {api}");
    }
    format!(
        "default-src 'none'; script-src {script}; style-src 'self'; img-src 'self' data:; font-src 'self'; \
         connect-src {connect}; frame-ancestors {FRAME_ANCESTORS}; base-uri 'none'; form-action 'none'; object-src 'none'"
    )
}

/// One year, for content-hashed assets that never change under their name.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// The page's HTTP headers: `(route, [(header, value)])`, the `/*` route first (every answer),
/// then the cache rules. `_headers` and `staticwebapp.config.json` are both written from it.
pub type Policy = Vec<(String, Vec<(String, String)>)>;

pub fn policy(pages_html: &str, api_origin: Option<&str>) -> Policy {
    let h = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<Vec<_>>()
    };
    let csp = content_security_policy(pages_html, api_origin);
    let mut p = vec![(
        "/*".to_string(),
        h(&[
            ("Content-Security-Policy", &csp),
            ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", "strict-origin-when-cross-origin"),
        ]),
    )];
    // The sign-in popup's pages (public/auth/): their scripts are stamped with their
    // content's hash (`stamp_auth_pages`), so only the pages themselves must be fetched anew.
    for route in [
        "/index.html",
        "/",
        "/tab.html",
        "/config.json",
        "/auth/start.html",
        "/auth/callback.html",
    ] {
        p.push((route.to_string(), h(&[("Cache-Control", "no-cache")])));
    }
    for route in ["/*.wasm", "/*.js", "/*.css"] {
        p.push((route.to_string(), h(&[("Cache-Control", IMMUTABLE)])));
    }
    p
}

/// Writes `_headers` (Netlify, Cloudflare Pages and similar hosts) and
/// `staticwebapp.config.json` (Azure Static Web Apps) into `dist`, with the same policy,
/// which allows the loader of each page in `entries` (HTML files in `dist`).
pub fn write(dist: &Path, entries: &[&str], api_origin: Option<&str>) -> Result<()> {
    stamp_auth_pages(dist)?;
    // One policy for every page: the configuration page's and the tab page's loaders.
    let mut pages =
        std::fs::read_to_string(dist.join("index.html")).context("cannot read dist/index.html")?;
    for html in entries.iter().filter(|html| **html != "index.html") {
        if let Ok(page) = std::fs::read_to_string(dist.join(html)) {
            pages.push_str(&page);
        }
    }
    let policy = policy(&pages, api_origin);
    std::fs::write(dist.join("_headers"), headers_file(&policy))
        .context("cannot write dist/_headers")?;
    std::fs::write(
        dist.join("staticwebapp.config.json"),
        static_web_app_config(&policy),
    )
    .context("cannot write dist/staticwebapp.config.json")
}

/// The sign-in popup's pages load `teams-js.js`, `start.js` and `callback.js` by fixed names
/// (Trunk hashes only what index.html names): each `src="x.js"` gets `?v=<its hash>`, so the
/// year-long cache of `/*.js` never serves an old script to a new page. Idempotent.
pub fn stamp_auth_pages(dist: &Path) -> Result<()> {
    let dir = dist.join("auth");
    if !dir.is_dir() {
        return Ok(());
    }
    for page in ["start.html", "callback.html"] {
        let path = dir.join(page);
        let html = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let mut out = String::with_capacity(html.len());
        let mut rest = html.as_str();
        while let Some(at) = rest.find("src=\"") {
            let (before, after) = rest.split_at(at + 5);
            out.push_str(before);
            let end = after
                .find('"')
                .with_context(|| format!("{}: an unclosed src attribute", path.display()))?;
            let src = after[..end].split('?').next().unwrap_or("");
            let script = std::fs::read(dir.join(src)).with_context(|| {
                format!(
                    "{} loads {src:?}, which is not in {}",
                    path.display(),
                    dir.display()
                )
            })?;
            let hash = sha256_base64(&script);
            let stamp: String = hash
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .take(16)
                .collect();
            let _ = write!(out, "{src}?v={stamp}");
            rest = &after[end..];
        }
        out.push_str(rest);
        std::fs::write(&path, out).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// The `_headers` format: a path line, then indented `Name: value` lines.
pub fn headers_file(policy: &Policy) -> String {
    let mut out = String::new();
    for (route, headers) in policy {
        let _ = writeln!(out, "{route}");
        for (name, value) in headers {
            let _ = writeln!(out, "  {name}: {value}");
        }
    }
    out
}

/// Azure Static Web Apps' configuration: the `/*` headers as `globalHeaders`, each other route
/// as a rule (the first matching rule wins; no two of ours match one request, since
/// `/index.html` and `/` carry the same headers), and `.wasm` served as `application/wasm` so
/// browsers compile it while it streams.
pub fn static_web_app_config(policy: &Policy) -> String {
    let object = |headers: &[(String, String)]| {
        serde_json::Value::Object(
            headers
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                .collect(),
        )
    };
    let global = policy
        .iter()
        .find(|(r, _)| r == "/*")
        .map(|(_, h)| object(h))
        .unwrap_or_default();
    let routes: Vec<serde_json::Value> = policy
        .iter()
        .filter(|(r, _)| r != "/*")
        .map(|(route, headers)| serde_json::json!({ "route": route, "headers": object(headers) }))
        .collect();
    let config = serde_json::json!({
        "globalHeaders": global,
        "routes": routes,
        "mimeTypes": { ".wasm": "application/wasm" },
    });
    serde_json::to_string_pretty(&config).expect("json values serialize") + "\n"
}

/// The contents of `<script>` elements without `src`.
fn inline_scripts(html: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("<script") {
        let after = &rest[start..];
        let Some(open_end) = after.find('>') else {
            break;
        };
        let tag = &after[..open_end];
        let body_start = open_end + 1;
        let Some(close) = after[body_start..].find("</script>") else {
            break;
        };
        if !tag.contains(" src=") {
            out.push(&after[body_start..body_start + close]);
        }
        rest = &after[body_start + close..];
    }
    out
}

fn sha256_base64(data: &[u8]) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_csp_sha256_sources() {
        assert_eq!(
            sha256_base64(b"abc"),
            "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="
        );
    }

    #[test]
    fn the_policy_allows_inline_loaders_by_hash_only() {
        let html = "<script src=\"/a.js\"></script><script type=\"module\">init()</script>";
        let csp = content_security_policy(html, Some("https://api.example.com"));
        assert!(csp.contains(&format!("'sha256-{}'", sha256_base64(b"init()"))));
        assert!(!csp.contains("unsafe-inline") && !csp.contains("'unsafe-eval'"));
        assert!(
            csp.contains("connect-src 'self' https://res.cdn.office.net https://api.example.com")
        );
        assert!(csp.contains("frame-ancestors teams.microsoft.com"));
    }

    /// `_headers` read back: routes in order, each with its headers.
    fn parse_headers_file(text: &str) -> Policy {
        let mut out: Policy = Vec::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            if let Some(header) = line.strip_prefix("  ") {
                let (k, v) = header.split_once(": ").expect("a `Name: value` line");
                out.last_mut()
                    .expect("a header after a path")
                    .1
                    .push((k.to_string(), v.to_string()));
            } else {
                out.push((line.to_string(), Vec::new()));
            }
        }
        out
    }

    /// `staticwebapp.config.json` read back into the same shape, `globalHeaders` as `/*`.
    fn parse_static_web_app(text: &str) -> Policy {
        let v: serde_json::Value = serde_json::from_str(text).unwrap();
        let pairs = |o: &serde_json::Value| -> Vec<(String, String)> {
            o.as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                .collect()
        };
        let mut out = vec![("/*".to_string(), pairs(&v["globalHeaders"]))];
        for r in v["routes"].as_array().unwrap() {
            out.push((
                r["route"].as_str().unwrap().to_string(),
                pairs(&r["headers"]),
            ));
        }
        out
    }

    fn sorted(mut p: Policy) -> Policy {
        for (_, h) in &mut p {
            h.sort();
        }
        p
    }

    #[test]
    fn headers_file_and_static_web_app_config_carry_the_same_policy() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("index.html"),
            "<script src=\"/t.js\"></script><script type=\"module\">init()</script>",
        )
        .unwrap();
        write(
            dir.path(),
            &["index.html", "tab.html"],
            Some("https://api.example.com"),
        )
        .unwrap();
        let headers =
            parse_headers_file(&std::fs::read_to_string(dir.path().join("_headers")).unwrap());
        let swa = std::fs::read_to_string(dir.path().join("staticwebapp.config.json")).unwrap();
        assert_eq!(sorted(headers.clone()), sorted(parse_static_web_app(&swa)));
        // And it is the policy we mean: a CSP allowing the loader and the API, cache rules.
        let all = &headers.iter().find(|(r, _)| r == "/*").unwrap().1;
        let csp = &all
            .iter()
            .find(|(k, _)| k == "Content-Security-Policy")
            .unwrap()
            .1;
        assert!(csp.contains(&format!("'sha256-{}'", sha256_base64(b"init()"))));
        assert!(csp.contains("https://api.example.com"));
        let cache = |route: &str| {
            headers.iter().find(|(r, _)| r == route).unwrap().1[0]
                .1
                .clone()
        };
        assert_eq!(cache("/index.html"), "no-cache");
        assert_eq!(cache("/tab.html"), "no-cache");
        assert_eq!(cache("/config.json"), "no-cache");
        assert_eq!(cache("/*.wasm"), IMMUTABLE);
        let v: serde_json::Value = serde_json::from_str(&swa).unwrap();
        assert_eq!(v["mimeTypes"][".wasm"], "application/wasm");
    }

    #[test]
    fn the_policy_allows_the_loaders_of_both_pages() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("index.html"),
            "<script type=\"module\">config()</script>",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("tab.html"),
            "<script type=\"module\">tab()</script>",
        )
        .unwrap();
        write(dir.path(), &["index.html", "tab.html"], None).unwrap();
        let headers = std::fs::read_to_string(dir.path().join("_headers")).unwrap();
        for loader in [&b"config()"[..], b"tab()"] {
            let source = format!("'sha256-{}'", sha256_base64(loader));
            assert!(headers.contains(&source), "{source} not in {headers}");
        }
    }

    #[test]
    fn auth_page_scripts_are_stamped_with_their_hash_once() {
        let dist = std::env::temp_dir().join(format!("stamp-test-{}", std::process::id()));
        let auth = dist.join("auth");
        std::fs::create_dir_all(&auth).unwrap();
        for (name, body) in [
            ("teams-js.js", "a"),
            ("start.js", "b"),
            ("callback.js", "c"),
        ] {
            std::fs::write(auth.join(name), body).unwrap();
        }
        let page = |js: &str| {
            format!("<script src=\"teams-js.js\"></script><script src=\"{js}\"></script>")
        };
        std::fs::write(auth.join("start.html"), page("start.js")).unwrap();
        std::fs::write(auth.join("callback.html"), page("callback.js")).unwrap();
        stamp_auth_pages(&dist).unwrap();
        let once = std::fs::read_to_string(auth.join("start.html")).unwrap();
        assert!(once.contains("src=\"teams-js.js?v="), "{once}");
        assert!(once.contains("src=\"start.js?v="), "{once}");
        stamp_auth_pages(&dist).unwrap();
        assert_eq!(
            std::fs::read_to_string(auth.join("start.html")).unwrap(),
            once
        );
        std::fs::write(auth.join("start.js"), "changed").unwrap();
        stamp_auth_pages(&dist).unwrap();
        assert_ne!(
            std::fs::read_to_string(auth.join("start.html")).unwrap(),
            once
        );
        std::fs::write(auth.join("callback.html"), page("missing.js")).unwrap();
        let err = stamp_auth_pages(&dist).unwrap_err().to_string();
        assert!(err.contains("\"missing.js\""), "{err}");
        std::fs::remove_dir_all(&dist).unwrap();
    }
}

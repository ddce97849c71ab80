//! Writes `dist/_headers` (the format Netlify, Cloudflare Pages and others read): the
//! Content-Security-Policy, `frame-ancestors` for Teams and the cache rules. The server
//! serves the same file's rules, so static hosts and our server send one policy.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};

/// Where Teams (and Outlook, which hosts Teams apps) frames the page.
pub const FRAME_ANCESTORS: &str =
    "teams.microsoft.com *.teams.microsoft.com *.cloud.microsoft *.skype.com outlook.office.com *.office.com";

/// teams-js fetches its list of valid host origins from here when it loads.
const TEAMS_JS_CDN: &str = "https://res.cdn.office.net";

/// The policy for the page in `dist/`, allowing exactly its inline loader script by hash.
pub fn content_security_policy(index_html: &str, api_origin: Option<&str>) -> String {
    let mut script = String::from("'self' 'wasm-unsafe-eval'");
    for body in inline_scripts(index_html) {
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

/// Writes `_headers` into `dist`.
pub fn write(dist: &Path, api_origin: Option<&str>) -> Result<()> {
    let index =
        std::fs::read_to_string(dist.join("index.html")).context("cannot read dist/index.html")?;
    let csp = content_security_policy(&index, api_origin);
    let text = format!(
        "/*\n  Content-Security-Policy: {csp}\n  X-Content-Type-Options: nosniff\n  Referrer-Policy: strict-origin-when-cross-origin\n\
         /index.html\n  Cache-Control: no-cache\n/\n  Cache-Control: no-cache\n/config.json\n  Cache-Control: no-cache\n\
         /*.wasm\n  Cache-Control: public, max-age=31536000, immutable\n\
         /*.js\n  Cache-Control: public, max-age=31536000, immutable\n\
         /*.css\n  Cache-Control: public, max-age=31536000, immutable\n"
    );
    std::fs::write(dist.join("_headers"), text).context("cannot write dist/_headers")
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
}

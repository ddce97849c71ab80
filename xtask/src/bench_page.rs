//! `cargo xtask bench page`: our release page against a hand-written plain-JavaScript page
//! (bench/reference/) doing the same job with the same teams-js bundle, CSS and form, both
//! served precompressed from a CDN-like origin and hosted by the emulator (bench/page.mjs).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use connector_settings::{FieldKind, Locale, CONNECTOR};

use crate::compress::{self, Quality};
use crate::setup::{self, root, run as sh};
use crate::tasks::{build_page, Build};

/// Options of `bench page`.
#[derive(Debug, PartialEq)]
pub struct Options {
    pub rounds: u32,
    /// `fast`, `slow` or both.
    pub profiles: Vec<String>,
}

pub fn parse(args: &[String]) -> Result<Options> {
    let mut o = Options {
        rounds: 15,
        profiles: vec!["fast".into(), "slow".into()],
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--rounds" => {
                let v = it.next().context("--rounds needs a number")?;
                o.rounds = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=1000).contains(n))
                    .with_context(|| format!("--rounds '{v}' is not a number from 1 to 1000"))?;
            }
            "--profile" => {
                let v = it.next().context("--profile needs fast, slow or both")?;
                o.profiles = match v.as_str() {
                    "fast" | "slow" => vec![v.clone()],
                    "both" => vec!["fast".into(), "slow".into()],
                    _ => bail!("--profile '{v}' is not fast, slow or both"),
                };
            }
            other => bail!("unknown bench page option '{other}'"),
        }
    }
    Ok(o)
}

pub fn run(args: &[String]) -> Result<()> {
    let o = parse(args)?;
    setup::all()?;
    let root = root();
    let dir = root.join("target/bench-page");
    let ours = dir.join("ours");
    let reference = dir.join("reference");
    build_page(&Build {
        release: true,
        public_url: Some("/ours/".into()),
        dist: Some(ours.display().to_string()),
    })?;
    assemble_reference(&ours, &reference)?;
    sh(Command::new("cargo")
        .args(["build", "--release", "-p", "connector-server"])
        .current_dir(&root))?;
    sh(Command::new("node")
        .arg(root.join("bench/page.mjs"))
        .args(["--rounds", &o.rounds.to_string()])
        .args(["--profiles", &o.profiles.join(",")])
        .current_dir(&root)
        .env("SERVER_BIN", root.join("target/release/connector-server"))
        .env("OURS_DIR", &ours)
        .env("REFERENCE_DIR", &reference))
}

/// Writes the reference page into `out`: bench/reference/ with the teams-js bundle and the CSS
/// of our built page `page_dist`, and the form of `connector.toml`, precompressed.
pub fn assemble_reference(page_dist: &Path, out: &Path) -> Result<()> {
    let src = root().join("bench/reference");
    let _ = std::fs::remove_dir_all(out);
    std::fs::create_dir_all(out)?;
    let teams_js = built_file(page_dist, |n| {
        n.starts_with("teams-js") && n.ends_with(".js")
    })?;
    let css = built_file(page_dist, |n| n.ends_with(".css"))?;
    for name in [&teams_js, &css] {
        std::fs::copy(page_dist.join(name), out.join(name))
            .with_context(|| format!("cannot copy {name} from {}", page_dist.display()))?;
    }
    std::fs::copy(src.join("reference.js"), out.join("reference.js"))
        .context("cannot copy bench/reference/reference.js")?;
    let template = std::fs::read_to_string(src.join("index.html"))
        .context("cannot read bench/reference/index.html")?;
    let html = template
        .replace("{{teams_js}}", &teams_js)
        .replace("{{css}}", &css)
        .replace("{{name}}", &escape(CONNECTOR.name))
        .replace(
            "{{short_description}}",
            &escape(CONNECTOR.short_description),
        )
        .replace("{{fields}}", &form_html());
    std::fs::write(out.join("index.html"), html)?;
    compress::precompress(out, Quality::Best)?;
    Ok(())
}

/// The one file of `dist` whose name matches (not a `.br`/`.gz` copy).
fn built_file(dist: &Path, matches: impl Fn(&str) -> bool) -> Result<String> {
    let mut found: Vec<String> = std::fs::read_dir(dist)
        .with_context(|| format!("cannot read {}", dist.display()))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| matches(n))
        .collect();
    found.sort();
    match found.as_slice() {
        [one] => Ok(one.clone()),
        _ => bail!(
            "expected one such file in {}, found {found:?}",
            dist.display()
        ),
    }
}

/// The form as static HTML, in `connector.toml` order, with the ids, classes and English
/// labels of our page; each field says its rules in `data-` attributes for reference.js.
pub fn form_html() -> String {
    let mut out = String::new();
    let en = |t: &connector_settings::Text| escape(t.get(Locale::En));
    for f in CONNECTOR.fields {
        let id = f.id;
        let help = format!(
            "<p id=\"field-{id}-help\" class=\"help\">{}</p><p id=\"field-{id}-error\" class=\"field-error\" aria-live=\"polite\"></p>",
            en(&f.help)
        );
        let described = format!("field-{id}-help field-{id}-error");
        match &f.kind {
            FieldKind::Text {
                required,
                min_length,
                max_length,
                pattern,
                pattern_help,
                ..
            } => {
                let _ = write!(
                    out,
                    "<div class=\"field\" data-field=\"{id}\" data-kind=\"text\" data-required=\"{required}\" data-min-length=\"{min_length}\" data-max-length=\"{max_length}\"{}{}>",
                    pattern.map(|p| format!(" data-pattern=\"{}\"", escape(p))).unwrap_or_default(),
                    pattern_help.map(|h| format!(" data-pattern-help=\"{}\"", en(&h))).unwrap_or_default(),
                );
                let _ = writeln!(
                    out,
                    "<label class=\"label\" for=\"field-{id}\">{}{}</label><input id=\"field-{id}\" class=\"input\" type=\"text\" autocomplete=\"off\" aria-describedby=\"{described}\" aria-required=\"{required}\">{help}</div>",
                    en(&f.label),
                    if *required { "<span class=\"required\" aria-hidden=\"true\"> *</span>" } else { "" },
                );
            }
            FieldKind::SingleChoice { options, .. } | FieldKind::MultiChoice { options, .. } => {
                let (kind, input, min) = match &f.kind {
                    FieldKind::MultiChoice { min_selected, .. } => (
                        "multi_choice",
                        "checkbox",
                        format!(" data-min-selected=\"{min_selected}\""),
                    ),
                    _ => ("single_choice", "radio", String::new()),
                };
                let default = f.default_value();
                let _ = write!(
                    out,
                    "<fieldset class=\"field group\" data-field=\"{id}\" data-kind=\"{kind}\"{min} aria-describedby=\"{described}\"><legend class=\"label\">{}</legend><div class=\"choices\">",
                    en(&f.label)
                );
                for o in options.iter() {
                    let checked = match &default {
                        connector_settings::Value::Text(v) => v == o.value,
                        connector_settings::Value::List(vs) => vs.iter().any(|v| v == o.value),
                        connector_settings::Value::Bool(_) => false,
                    };
                    let _ = write!(
                        out,
                        "<label class=\"choice\"><input type=\"{input}\" id=\"field-{id}-{v}\" name=\"{id}\" value=\"{v}\"{}><span>{}</span></label>",
                        if checked { " checked" } else { "" },
                        en(&o.label),
                        v = escape(o.value),
                    );
                }
                let _ = writeln!(out, "</div>{help}</fieldset>");
            }
            FieldKind::Toggle { default } => {
                let _ = writeln!(
                    out,
                    "<div class=\"field\" data-field=\"{id}\" data-kind=\"toggle\"><label class=\"switch\" for=\"field-{id}\"><input id=\"field-{id}\" type=\"checkbox\" role=\"switch\" aria-describedby=\"{described}\"{}><span class=\"label\">{}</span></label>{help}</div>",
                    if *default { " checked" } else { "" },
                    en(&f.label)
                );
            }
        }
    }
    out
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Where `cargo xtask test` puts the reference page for its smoke test.
pub fn test_reference_dir() -> PathBuf {
    root().join("build/reference")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_default_to_both_profiles_and_are_checked() {
        let args = |s: &[&str]| s.iter().map(|a| a.to_string()).collect::<Vec<_>>();
        let o = parse(&[]).unwrap();
        assert_eq!((o.rounds, o.profiles.len()), (15, 2));
        let o = parse(&args(&["--rounds", "3", "--profile", "slow"])).unwrap();
        assert_eq!((o.rounds, o.profiles), (3, vec!["slow".to_string()]));
        assert!(parse(&args(&["--rounds", "0"]))
            .unwrap_err()
            .to_string()
            .contains("'0'"));
        assert!(parse(&args(&["--profile", "3g"])).is_err());
    }

    #[test]
    fn the_reference_form_has_every_field_of_connector_toml_with_its_label() {
        let html = form_html();
        for f in CONNECTOR.fields {
            assert!(
                html.contains(&format!("data-field=\"{}\"", f.id)),
                "{}",
                f.id
            );
            assert!(html.contains(&escape(f.label.get(Locale::En))), "{}", f.id);
            if let FieldKind::SingleChoice { options, .. }
            | FieldKind::MultiChoice { options, .. } = &f.kind
            {
                for o in options.iter() {
                    assert!(html.contains(&format!("id=\"field-{}-{}\"", f.id, o.value)));
                }
            }
        }
        assert_eq!(escape("a<\"b\">&"), "a&lt;&quot;b&quot;&gt;&amp;");
    }
}

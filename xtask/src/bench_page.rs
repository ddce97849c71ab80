//! `cargo xtask bench page`: our release page against a hand-written plain-JavaScript page
//! (bench/reference/) doing the same job with the same teams-js bundle, CSS and form, both
//! served precompressed from a CDN-like origin and hosted by the emulator (bench/page.mjs).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use connector_settings::{FieldKind, Locale, CONNECTOR};

use crate::build::{build_page, Build};
use crate::compress::{self, Quality};
use crate::setup::{self, root, run as sh};

/// Options of `bench page`.
#[derive(clap::Parser, Debug, PartialEq)]
#[command(name = "bench page")]
pub struct Options {
    /// Rounds, each loading both pages under each profile.
    #[arg(long, value_name = "N", default_value_t = 15,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub rounds: u32,
    /// `fast` (no throttling), `slow` (CPU 4x, 150 ms RTT, 1.6 Mbit/s) or both.
    #[arg(long, value_enum, default_value_t = Profile::Both)]
    pub profile: Profile,
    /// A page built already with `--public-url /ours/` (another commit's, to compare builds
    /// in alternating runs) instead of building this one.
    #[arg(long, value_name = "DIR")]
    pub ours: Option<PathBuf>,
    /// The server binary that hosts the emulator, instead of building the release server.
    #[arg(long, value_name = "BIN")]
    pub server: Option<PathBuf>,
}

/// The network and CPU profiles the pages load under.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq)]
pub enum Profile {
    Fast,
    Slow,
    Both,
}

impl Options {
    /// The profiles' names as bench/page.mjs knows them.
    pub fn profiles(&self) -> Vec<&'static str> {
        match self.profile {
            Profile::Fast => vec!["fast"],
            Profile::Slow => vec!["slow"],
            Profile::Both => vec!["fast", "slow"],
        }
    }
}

pub fn run(o: &Options) -> Result<()> {
    setup::install(setup::BENCH_PAGE)?;
    let root = root();
    let dir = root.join("target/bench-page");
    let reference = dir.join("reference");
    let ours = match &o.ours {
        Some(built) => std::path::absolute(built)?,
        None => {
            let ours = dir.join("ours");
            build_page(&Build {
                release: true,
                public_url: Some("/ours/".into()),
                dist: Some(ours.display().to_string()),
            })?;
            ours
        }
    };
    assemble_reference(&ours, &reference)?;
    let server = match &o.server {
        Some(bin) => std::path::absolute(bin)?,
        None => {
            sh(Command::new("cargo")
                .args(["build", "--release", "-p", "connector-server"])
                .current_dir(&root))?;
            root.join("target/release/connector-server")
        }
    };
    sh(Command::new("node")
        .arg(root.join("bench/page.mjs"))
        .args(["--rounds", &o.rounds.to_string()])
        .args(["--profiles", &o.profiles().join(",")])
        .current_dir(&root)
        .env("SERVER_BIN", server)
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
        // The name reference.js switches on (`connector.toml`'s own).
        let kind = f.kind.kind_name().name();
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
                    "<div class=\"field\" data-field=\"{id}\" data-kind=\"{kind}\" data-required=\"{required}\" data-min-length=\"{min_length}\" data-max-length=\"{max_length}\"{}{}>",
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
                let (input, min) = match &f.kind {
                    FieldKind::MultiChoice { min_selected, .. } => {
                        ("checkbox", format!(" data-min-selected=\"{min_selected}\""))
                    }
                    _ => ("radio", String::new()),
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
                    "<div class=\"field\" data-field=\"{id}\" data-kind=\"{kind}\"><label class=\"switch\" for=\"field-{id}\"><input id=\"field-{id}\" type=\"checkbox\" role=\"switch\" aria-describedby=\"{described}\"{}><span class=\"label\">{}</span></label>{help}</div>",
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
        use clap::Parser;
        let parse =
            |s: &[&str]| Options::try_parse_from(std::iter::once("page").chain(s.iter().copied()));
        let o = parse(&[]).unwrap();
        assert_eq!((o.rounds, o.profiles()), (15, vec!["fast", "slow"]));
        let o = parse(&["--rounds", "3", "--profile", "slow"]).unwrap();
        assert_eq!((o.rounds, o.profiles()), (3, vec!["slow"]));
        assert!(parse(&["--rounds", "0"])
            .unwrap_err()
            .to_string()
            .contains("'0'"));
        assert!(parse(&["--profile", "3g"]).is_err());
        assert_eq!((o.ours, o.server), (None, None));
        let o = parse(&[
            "--ours",
            "before/ours",
            "--server",
            "target/debug/connector-server",
        ])
        .unwrap();
        assert_eq!(o.ours, Some(PathBuf::from("before/ours")));
        assert_eq!(
            o.server,
            Some(PathBuf::from("target/debug/connector-server"))
        );
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

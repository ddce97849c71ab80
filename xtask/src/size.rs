//! `cargo xtask size`: what the Teams iframe downloads, file by file, raw, gzip and brotli,
//! against the goals; and where the wasm's bytes go, by crate.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use anyhow::Result;

use crate::build::{build_page, Build};
use crate::compress;
use crate::setup::{self, root, tool_path};

pub fn report() -> Result<()> {
    setup::page_tools()?;
    let dist = root().join("target/size-dist");
    build_page(&Build {
        release: true,
        dist: Some(dist.display().to_string()),
        ..Build::default()
    })?;
    let rows = measure(&dist)?;
    // Each page is its own download: its HTML and what it names (the shared CSS, teams-js,
    // handshake and config.json, and its own wasm and glue).
    for (i, (_, html)) in crate::build::ENTRIES.into_iter().enumerate() {
        let page = std::fs::read_to_string(dist.join(html))?;
        let title = if i == 0 {
            "the configuration page"
        } else {
            "the tab page"
        };
        print!(
            "{}{title} ({html}):\n{}",
            if i == 0 { "" } else { "\n" },
            table(&of_page(&rows, html, &page))
        );
    }
    costs()?;
    // The operators' console: served by the internal listener only, so no iframe goal.
    let admin = crate::admin_page::build(true, Some(&dist))?;
    print!("\n{}", admin_table(&measure(&admin)?));
    Ok(())
}

/// The console's files (`dist/admin/`), raw, gzip and brotli, and their total.
pub fn admin_table(rows: &[Row]) -> String {
    let mut out = format!(
        "{:<46} {:>8} {:>8} {:>8}\n",
        "operators' console, dist/admin/ (no goal)", "raw", "gzip", "brotli"
    );
    let mut total = (0, 0, 0);
    for r in rows {
        let _ = writeln!(
            out,
            "  {:<44} {:>8} {:>8} {:>8}",
            r.name, r.raw, r.gzip, r.brotli
        );
        total = (total.0 + r.raw, total.1 + r.gzip, total.2 + r.brotli);
    }
    let _ = writeln!(
        out,
        "  {:<44} {:>8} {:>8} {:>8}",
        "console total", total.0, total.1, total.2
    );
    out
}

/// What a file of the page is for, and so which goal it counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Part {
    /// Ours: the wasm, its JS glue, the CSS.
    FirstParty,
    /// The teams-js bundle (js/teams-js.js).
    TeamsJs,
    /// Downloaded too: the page's HTML (index.html, tab.html) and config.json.
    Document,
}

/// One downloaded file: its part, name and bytes raw, gzip and brotli.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub part: Part,
    pub name: String,
    pub raw: usize,
    pub gzip: usize,
    pub brotli: usize,
}

/// The files the iframe downloads, as served: the `.br`/`.gz` beside a file when the build
/// wrote them, else compressed here the same way. A framed page fetches no icon.
pub fn measure(dist: &Path) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    for entry in std::fs::read_dir(dist)? {
        let path = entry?.path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let part = if name.starts_with("teams-js") && name.ends_with(".js") {
            Part::TeamsJs
        } else if name.ends_with(".wasm") || name.ends_with(".js") || name.ends_with(".css") {
            Part::FirstParty
        } else if name.ends_with(".html") || name == "config.json" {
            Part::Document
        } else {
            continue;
        };
        let bytes = std::fs::read(&path)?;
        let sibling = |ext: &str| std::fs::metadata(format!("{}.{ext}", path.display())).ok();
        let gzip = match sibling("gz") {
            Some(m) => m.len() as usize,
            None => compress::gzip(&bytes)?.len(),
        };
        let brotli = match sibling("br") {
            Some(m) => m.len() as usize,
            None => compress::brotli(&bytes)?.len(),
        };
        rows.push(Row {
            part,
            name,
            raw: bytes.len(),
            gzip,
            brotli,
        });
    }
    rows.sort_by(|a, b| a.part.cmp(&b.part).then(b.raw.cmp(&a.raw)));
    Ok(rows)
}

/// The rows one page downloads: its own HTML (`html`, whose text is `page`) and every file
/// that text names (Trunk's loader and preloads name the wasm and its glue).
pub fn of_page(rows: &[Row], html: &str, page: &str) -> Vec<Row> {
    rows.iter()
        .filter(|r| r.name == html || (!r.name.ends_with(".html") && page.contains(&r.name)))
        .cloned()
        .collect()
}

/// KB here are 1024 bytes.
const KB: usize = 1024;
/// Goals in brotli bytes (issue 11).
pub const FIRST_PARTY_GOAL: usize = 85 * KB;
pub const TEAMS_JS_GOAL: usize = 16 * KB;
pub const TOTAL_GOAL: usize = 100 * KB;

/// The report: each file, a total per part with its goal, and the total download.
pub fn table(rows: &[Row]) -> String {
    let mut out = format!(
        "{:<46} {:>8} {:>8} {:>8}\n",
        "bytes (KB = 1024 B)", "raw", "gzip", "brotli"
    );
    let sum = |part: Option<Part>| {
        rows.iter()
            .filter(|r| part.is_none_or(|p| r.part == p))
            .fold((0, 0, 0), |t, r| {
                (t.0 + r.raw, t.1 + r.gzip, t.2 + r.brotli)
            })
    };
    let line = |out: &mut String, label: &str, (raw, gz, br): (usize, usize, usize)| {
        let _ = writeln!(out, "{label:<46} {raw:>8} {gz:>8} {br:>8}");
    };
    let goal = |out: &mut String, what: &str, brotli: usize, goal: usize| {
        let verdict = if brotli <= goal {
            format!("met, {} B under", goal - brotli)
        } else {
            format!("NOT met, {} B over", brotli - goal)
        };
        let _ = writeln!(
            out,
            "  goal: {what} <= {} KB ({goal} B) brotli: {verdict}",
            goal / KB
        );
    };
    let parts = [
        (
            Part::FirstParty,
            "first-party (wasm, JS glue, CSS)",
            Some(("first-party", FIRST_PARTY_GOAL)),
        ),
        (
            Part::TeamsJs,
            "teams-js bundle",
            Some(("teams-js", TEAMS_JS_GOAL)),
        ),
        (Part::Document, "document and runtime config", None),
    ];
    for (part, title, goal_of) in parts {
        let _ = writeln!(out, "{title}");
        for r in rows.iter().filter(|r| r.part == part) {
            line(
                &mut out,
                &format!("  {}", r.name),
                (r.raw, r.gzip, r.brotli),
            );
        }
        if let Some((what, g)) = goal_of {
            let t = sum(Some(part));
            line(&mut out, &format!("  {what} total"), t);
            goal(&mut out, what, t.2, g);
        }
    }
    let total = sum(None);
    line(&mut out, "total the iframe downloads", total);
    goal(&mut out, "total", total.2, TOTAL_GOAL);
    out
}

/// What the wasm's bytes are spent on, by crate: the same module as Trunk's, run through
/// wasm-bindgen and wasm-opt (at index.html's `data-wasm-opt` level) again, keeping function names.
fn costs() -> Result<()> {
    let root = root();
    let level = wasm_opt_level(&std::fs::read_to_string(root.join("index.html"))?);
    let input = root.join("target/wasm32-unknown-unknown/page/teams-connector.wasm");
    let tmp = root.join("target/size-names");
    std::fs::create_dir_all(&tmp)?;
    setup::run(
        Command::new("wasm-bindgen")
            .env("PATH", tool_path())
            .args(["--target", "no-modules", "--keep-debug", "--out-dir"])
            .arg(&tmp)
            .arg(&input),
    )?;
    let named = tmp.join("named.wasm");
    setup::run(
        Command::new("wasm-opt")
            .env("PATH", tool_path())
            .args([
                &format!("-O{level}"),
                "-g",
                "--enable-bulk-memory",
                "--enable-nontrapping-float-to-int",
            ])
            .args([
                "--enable-sign-ext",
                "--enable-mutable-globals",
                "--enable-reference-types",
            ])
            .arg(tmp.join("teams-connector_bg.wasm"))
            .arg("-o")
            .arg(&named),
    )?;
    let bytes = std::fs::read(&named)?;
    let mut by_crate = by_crate(&bytes)?;
    let total: usize = by_crate.iter().map(|(_, n)| n).sum();
    by_crate.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    println!(
        "\nwhere the configuration page's wasm bytes go (code by crate and data, after wasm-opt -O{level}, uncompressed):"
    );
    for (name, n) in by_crate.iter().take(15) {
        println!("{n:>9} {:>5.1}%  {name}", *n as f64 * 100.0 / total as f64);
    }
    let rest: usize = by_crate.iter().skip(15).map(|(_, n)| n).sum();
    println!(
        "{rest:>9} {:>5.1}%  everything else",
        rest as f64 * 100.0 / total as f64
    );
    Ok(())
}

/// The `data-wasm-opt` level of index.html's rust link (Trunk's default is no wasm-opt).
fn wasm_opt_level(index_html: &str) -> String {
    index_html
        .split("data-wasm-opt=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or("0")
        .to_string()
}

/// Function body bytes grouped by the crate in each function's name, plus the data
/// segments as `(data)`.
fn by_crate(wasm: &[u8]) -> Result<Vec<(String, usize)>> {
    use wasmparser::{Name, Parser, Payload};
    let mut imported = 0u32;
    let mut bodies = Vec::new();
    let mut names = HashMap::new();
    let mut data = 0usize;
    for payload in Parser::new(0).parse_all(wasm) {
        match payload? {
            Payload::ImportSection(r) => {
                for import in r.into_imports() {
                    if matches!(import?.ty, wasmparser::TypeRef::Func(_)) {
                        imported += 1;
                    }
                }
            }
            Payload::CodeSectionEntry(body) => bodies.push(body.range().len()),
            Payload::DataSection(r) => data += r.range().len(),
            Payload::CustomSection(c) => {
                if let wasmparser::KnownCustom::Name(r) = c.as_known() {
                    for sub in r {
                        if let Ok(Name::Function(map)) = sub {
                            for naming in map {
                                let naming = naming?;
                                names.insert(naming.index, naming.name.to_string());
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
    let mut sums: HashMap<String, usize> = HashMap::new();
    for (i, len) in bodies.into_iter().enumerate() {
        let name = names.get(&(imported + i as u32)).map(String::as_str);
        *sums.entry(crate_of(name.unwrap_or(""))).or_default() += len;
    }
    sums.insert("(data: strings, tables)".into(), data);
    Ok(sums.into_iter().collect())
}

/// The crate a demangled function name belongs to: the first `name::` path in it, with
/// `core::fmt` and `core::ptr` (drop glue) kept apart as they are large on their own.
fn crate_of(name: &str) -> String {
    let bytes = name.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        while i < bytes.len()
            && (bytes[i].is_ascii_lowercase() || bytes[i].is_ascii_digit() || bytes[i] == b'_')
        {
            i += 1;
        }
        if i > start && !bytes[start].is_ascii_digit() {
            // Skip a `[hash]` disambiguator, then expect `::`.
            let mut j = i;
            if bytes.get(j) == Some(&b'[') {
                while j < bytes.len() && bytes[j] != b']' {
                    j += 1;
                }
                j += 1;
            }
            if name[j.min(name.len())..].starts_with("::") {
                let krate = &name[start..i];
                if krate == "core" {
                    let rest = &name[j + 2..];
                    let module: String = rest
                        .chars()
                        .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                        .collect();
                    if module == "fmt" || module == "ptr" {
                        return format!("core::{module}");
                    }
                }
                return krate.to_string();
            }
        }
        i = i.max(start + 1);
    }
    "(no crate in the name)".to_string()
}

#[cfg(test)]
mod tests {
    use super::{admin_table, crate_of, of_page, table, Part, Row};

    #[test]
    fn each_page_counts_its_own_html_and_what_it_names() {
        let row = |part, name: &str| Row {
            part,
            name: name.into(),
            raw: 1,
            gzip: 1,
            brotli: 1,
        };
        let rows = [
            row(Part::FirstParty, "teams-connector-aa_bg.wasm"),
            row(Part::FirstParty, "teams-connector-aa.js"),
            row(Part::FirstParty, "teams-connector-tab-bb_bg.wasm"),
            row(Part::FirstParty, "teams-connector-tab-bb.js"),
            row(Part::FirstParty, "main-cc.css"),
            row(Part::TeamsJs, "teams-js-dd.js"),
            row(Part::Document, "index.html"),
            row(Part::Document, "tab.html"),
            row(Part::Document, "config.json"),
        ];
        let tab = "<link href=\"config.json\"><script src=\"/teams-js-dd.js\"></script>\
                   <link href=\"/main-cc.css\"><link href=\"/teams-connector-tab-bb_bg.wasm\">\
                   <script>import init from '/teams-connector-tab-bb.js'</script>";
        let names: Vec<_> = of_page(&rows, "tab.html", tab)
            .into_iter()
            .map(|r| r.name)
            .collect();
        assert_eq!(
            names,
            [
                "teams-connector-tab-bb_bg.wasm",
                "teams-connector-tab-bb.js",
                "main-cc.css",
                "teams-js-dd.js",
                "tab.html",
                "config.json"
            ]
        );
    }

    #[test]
    fn the_table_totals_each_part_against_its_goal() {
        let row = |part, name: &str, brotli| Row {
            part,
            name: name.into(),
            raw: brotli * 3,
            gzip: brotli + 10,
            brotli,
        };
        let text = table(&[
            row(Part::FirstParty, "app_bg.wasm", 80_000),
            row(Part::FirstParty, "app.js", 5_000),
            row(Part::TeamsJs, "teams-js-0123.js", 17_000),
            row(Part::Document, "index.html", 600),
        ]);
        assert!(
            text.contains("first-party <= 85 KB (87040 B) brotli: met, 2040 B under"),
            "{text}"
        );
        assert!(
            text.contains("teams-js <= 16 KB (16384 B) brotli: NOT met, 616 B over"),
            "{text}"
        );
        assert!(
            text.contains("total <= 100 KB (102400 B) brotli: NOT met, 200 B over"),
            "{text}"
        );
        let total = text
            .lines()
            .find(|l| l.starts_with("total the iframe"))
            .unwrap();
        assert!(total.ends_with(" 102600"), "{total}");
    }

    #[test]
    fn the_console_table_lists_its_files_and_their_total() {
        let row = |name: &str, raw, brotli| Row {
            part: Part::FirstParty,
            name: name.into(),
            raw,
            gzip: raw / 2,
            brotli,
        };
        let t = admin_table(&[
            row("connector-admin-0123456789abcdef_bg.wasm", 300_000, 90_000),
            row("admin-0123456789abcdef.css", 4_000, 1_000),
        ]);
        assert!(
            t.contains("connector-admin-0123456789abcdef_bg.wasm"),
            "{t}"
        );
        let total = t.lines().last().unwrap();
        assert!(
            total.contains("console total")
                && total.contains("304000")
                && total.contains("152000")
                && total.contains("91000"),
            "{t}"
        );
    }

    #[test]
    fn names_map_to_their_crate() {
        assert_eq!(
            crate_of("teams_connector::flows::start::{{closure}}::h89f3"),
            "teams_connector"
        );
        assert_eq!(
            crate_of("<f64 as core[c5930c85a12de822]::fmt::Display>::fmt"),
            "core::fmt"
        );
        assert_eq!(
            crate_of("core::ptr::drop_in_place<alloc::string::String>::h1"),
            "core::ptr"
        );
        assert_eq!(
            crate_of("core::slice::sort::stable::drift::sort::h4"),
            "core"
        );
        assert_eq!(
            crate_of("<tachys::html::element::HtmlElement<E> as tachys::view::Render>::build"),
            "tachys"
        );
        assert_eq!(
            crate_of("<&mut serde_json::de::Deserializer<R> as x>::f"),
            "serde_json"
        );
        assert_eq!(crate_of("__wbindgen_malloc"), "(no crate in the name)");
    }
}

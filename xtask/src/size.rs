//! `cargo xtask size`: what users download in the Teams iframe, file by file.

use std::collections::HashMap;
use std::io::Write;
use std::process::Command;

use anyhow::Result;

use crate::setup::{self, root, tool_path};
use crate::tasks::{build_page, Build};

pub fn report() -> Result<()> {
    setup::page_tools()?;
    let dist = root().join("target/size-dist");
    build_page(&Build {
        release: true,
        dist: Some(dist.display().to_string()),
        ..Build::default()
    })?;
    let mut rows = Vec::new();
    for entry in std::fs::read_dir(&dist)? {
        let path = entry?.path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let kind = if name.ends_with(".wasm") {
            "wasm"
        } else if name.starts_with("MicrosoftTeams") {
            "teams-js"
        } else if name.ends_with(".js") {
            "js"
        } else if name.ends_with(".css") {
            "css"
        } else if name.ends_with(".html") {
            "html"
        } else {
            continue;
        };
        let bytes = std::fs::read(&path)?;
        rows.push((kind, name, bytes.len(), gzip(&bytes)?, brotli(&bytes)?));
    }
    rows.sort();
    println!(
        "{:<9} {:>9} {:>9} {:>9}  file",
        "kind", "raw", "gzip", "brotli"
    );
    let mut total = (0, 0, 0);
    for (kind, name, raw, gz, br) in &rows {
        println!("{kind:<9} {raw:>9} {gz:>9} {br:>9}  {name}");
        if matches!(*kind, "wasm" | "js" | "css") {
            total = (total.0 + raw, total.1 + gz, total.2 + br);
        }
    }
    println!(
        "{:<9} {:>9} {:>9} {:>9}  first-party page (wasm + js + css)",
        "total", total.0, total.1, total.2
    );
    println!(
        "goal: first-party page <= {GOAL_BROTLI} B brotli (issue 7): {}",
        if total.2 <= GOAL_BROTLI {
            "met".to_string()
        } else {
            format!("not met, {} B over", total.2 - GOAL_BROTLI)
        }
    );
    costs()
}

/// The size goal for the first-party page, brotli.
const GOAL_BROTLI: usize = 40 * 1024;

/// What the wasm's bytes are spent on, by crate: the same module as Trunk's, run through
/// wasm-bindgen and `wasm-opt -Oz` again but keeping function names.
fn costs() -> Result<()> {
    let root = root();
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
                "-Oz",
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
        "\nwhere the wasm's bytes go (code by crate and data, after wasm-opt -Oz, uncompressed):"
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

fn gzip(bytes: &[u8]) -> Result<usize> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(bytes)?;
    Ok(enc.finish()?.len())
}

fn brotli(bytes: &[u8]) -> Result<usize> {
    let mut out = Vec::new();
    let params = brotli::enc::BrotliEncoderParams {
        quality: 11,
        lgwin: 22,
        ..Default::default()
    };
    brotli::BrotliCompress(&mut &bytes[..], &mut out, &params)?;
    Ok(out.len())
}

#[cfg(test)]
mod tests {
    use super::crate_of;

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

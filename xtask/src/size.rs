//! `cargo xtask size`: what users download in the Teams iframe, file by file.

use std::io::Write;

use anyhow::Result;

use crate::setup::{self, root};
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
    Ok(())
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

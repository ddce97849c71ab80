//! Precompressed copies of the built page: `name.br` and `name.gz` beside each text and wasm
//! file of `dist/`, for hosts that serve them by `Accept-Encoding` (our server, nginx's
//! `gzip_static`/`brotli_static`, a CDN fed from a bucket). Release builds use the highest
//! quality; debug builds a fast one (brotli 11 takes minutes on a 3 MB debug wasm).

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// Extensions worth compressing. Not `json`: `config.json` is edited per deployment after the
/// build, and a stale `.br` beside it would be served instead of the edit.
const COMPRESSED: &[&str] = &["html", "js", "css", "wasm", "svg", "txt"];

/// How hard to compress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quality {
    /// brotli 11 with the largest window, gzip 9: what a deployment serves.
    Best,
    /// brotli 5, gzip 6: seconds instead of minutes for a debug build.
    Fast,
}

/// Writes `.br` and `.gz` beside every file of `dir` (recursively) worth compressing.
pub fn precompress(dir: &Path, quality: Quality) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for path in files(dir)? {
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if !COMPRESSED.contains(&ext) {
            continue;
        }
        let bytes =
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let (br, gz) = match quality {
            Quality::Best => (brotli(&bytes)?, gzip(&bytes)?),
            Quality::Fast => (brotli_at(&bytes, 5, 22)?, gzip_at(&bytes, 6)?),
        };
        for (suffix, data) in [("br", br), ("gz", gz)] {
            let out = PathBuf::from(format!("{}.{suffix}", path.display()));
            std::fs::write(&out, data)
                .with_context(|| format!("cannot write {}", out.display()))?;
            written.push(out);
        }
    }
    Ok(written)
}

fn files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            out.extend(files(&path)?);
        } else {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

/// Brotli at quality 11, the smaller of the 4 MB and 16 MB windows (the larger is not always
/// smaller); every browser decodes both.
pub fn brotli(bytes: &[u8]) -> Result<Vec<u8>> {
    let a = brotli_at(bytes, 11, 22)?;
    if bytes.len() <= 1 << 22 {
        return Ok(a);
    }
    let b = brotli_at(bytes, 11, 24)?;
    Ok(if b.len() < a.len() { b } else { a })
}

fn brotli_at(bytes: &[u8], quality: i32, lgwin: i32) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let params = brotli::enc::BrotliEncoderParams {
        quality,
        lgwin,
        size_hint: bytes.len(),
        ..Default::default()
    };
    brotli::BrotliCompress(&mut &bytes[..], &mut out, &params)?;
    Ok(out)
}

/// gzip at level 9.
pub fn gzip(bytes: &[u8]) -> Result<Vec<u8>> {
    gzip_at(bytes, 9)
}

fn gzip_at(bytes: &[u8], level: u32) -> Result<Vec<u8>> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(level));
    enc.write_all(bytes)?;
    Ok(enc.finish()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read as _;

    #[test]
    fn text_and_wasm_get_both_encodings_and_config_json_none() {
        let dir = tempfile::tempdir().unwrap();
        let page = "<!doctype html><p>hello hello hello hello</p>".repeat(20);
        std::fs::write(dir.path().join("index.html"), &page).unwrap();
        std::fs::write(dir.path().join("app_bg.wasm"), b"\0asm\x01\0\0\0").unwrap();
        std::fs::write(dir.path().join("config.json"), "{}").unwrap();
        std::fs::write(dir.path().join("icon.png"), [0u8; 8]).unwrap();
        precompress(dir.path(), Quality::Best).unwrap();
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "app_bg.wasm",
                "app_bg.wasm.br",
                "app_bg.wasm.gz",
                "config.json",
                "icon.png",
                "index.html",
                "index.html.br",
                "index.html.gz"
            ]
        );
        // Both decode back to the original.
        let br = std::fs::read(dir.path().join("index.html.br")).unwrap();
        let mut decoded = Vec::new();
        brotli::BrotliDecompress(&mut &br[..], &mut decoded).unwrap();
        assert_eq!(decoded, page.as_bytes());
        let gz = std::fs::read(dir.path().join("index.html.gz")).unwrap();
        let mut decoded = String::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_string(&mut decoded)
            .unwrap();
        assert_eq!(decoded, page);
        assert!(br.len() < page.len() / 5);
    }
}

//! The operators' console (`admin/`), built with Trunk into `<dist>/admin/`: the server
//! serves it only on its internal listener, at `/admin/`. Not part of `cargo xtask dist`,
//! whose output is for a public static host.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Result;

use crate::setup::{root, run as sh, tool_path};

/// The console's directory inside a page build's `dist`.
pub fn dir_in(dist: &Path) -> PathBuf {
    dist.join("admin")
}

/// Builds the console into `<dist>/admin/` (`dist` defaults to the workspace's `dist/`),
/// release with the page's profile and wasm-opt level, precompressed as the page is. Run it
/// after the page's own build: Trunk empties the page's dist directory first.
pub fn build(release: bool, dist: Option<&Path>) -> Result<PathBuf> {
    let root = root();
    let out = dir_in(&dist.map_or_else(|| root.join("dist"), Path::to_path_buf));
    let out = if out.is_absolute() {
        out
    } else {
        std::env::current_dir()?.join(out)
    };
    // Trunk runs cargo offline (admin/Trunk.toml), so fetch first.
    sh(Command::new("cargo").arg("fetch").current_dir(&root))?;
    let mut cmd = Command::new("trunk");
    cmd.arg("build")
        .arg("--dist")
        .arg(&out)
        .current_dir(root.join("admin"))
        .env("PATH", tool_path());
    if release {
        cmd.arg("--release");
    }
    sh(&mut cmd)?;
    let quality = if release {
        crate::compress::Quality::Best
    } else {
        crate::compress::Quality::Fast
    };
    crate::compress::precompress(&out, quality)?;
    Ok(out)
}

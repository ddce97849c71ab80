//! Turns `connector.toml` (at the workspace root, or the file `CONNECTOR_TOML` names) into
//! Rust statics, so the wasm page carries no TOML parser and page and server share one
//! definition. A malformed file stops the build with the line and the problem.

#[path = "../src/model.rs"]
#[allow(dead_code)]
mod model;
#[path = "../src/pattern.rs"]
#[allow(dead_code)]
mod pattern;
mod spec;

use std::path::PathBuf;

fn main() {
    let path = std::env::var_os("CONNECTOR_TOML")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("../connector.toml")
        });
    println!("cargo:rerun-if-changed={}", path.display());
    println!("cargo:rerun-if-env-changed=CONNECTOR_TOML");
    // Tests of the default file's own fields run only when the build is of that file.
    println!("cargo:rustc-check-cfg=cfg(default_connector)");
    if std::env::var_os("CONNECTOR_TOML").is_none() {
        println!("cargo:rustc-cfg=default_connector");
    }
    let src = match std::fs::read_to_string(&path) {
        Ok(s) => s,
        Err(e) => fail(&format!("cannot read {}: {e}", path.display())),
    };
    let spec = match spec::parse(&src) {
        Ok(s) => s,
        // Name the file that was read when it is not the default one.
        Err(e) => match std::env::var_os("CONNECTOR_TOML") {
            Some(_) => fail(&format!("{}:{}: {}", path.display(), e.line, e.message)),
            None => fail(&e.to_string()),
        },
    };
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let rust = spec::to_rust(&spec);
    // The fingerprint is of the parsed form (what page and server compile in), so a comment
    // or a reformatted line in connector.toml does not change it; a field, a rule or a text
    // does.
    std::fs::write(out.join("form.rs"), format!("{:?}", fingerprint(&rust))).unwrap();
    std::fs::write(out.join("connector.rs"), rust).unwrap();
}

/// 64-bit FNV-1a of `text` in hex: short enough to read in an error message, and not a
/// security measure (it tells two honest builds apart; nobody gains by forging it).
fn fingerprint(text: &str) -> String {
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{hash:016x}")
}

fn fail(message: &str) -> ! {
    eprintln!("\nerror: {message}\n");
    std::process::exit(1);
}

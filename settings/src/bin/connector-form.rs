//! Prints the fingerprint of the form this crate was built from (the same CONNECTOR_TOML as
//! the page's build), which `cargo xtask build` writes into `dist/form.txt`.

fn main() {
    println!("{}", connector_settings::FORM);
}

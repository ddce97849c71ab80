//! `environments.toml`: one app id and page address per deployment, so a tenant can install
//! the staging app beside the production one and tell them apart.

use std::path::Path;

use anyhow::{bail, Context, Result};

/// One `[name]` table of the file.
#[derive(Debug, Clone, PartialEq)]
pub struct Environment {
    pub app_id: String,
    pub page_url: String,
    /// Appended to the app's name, e.g. " (staging)".
    pub name_suffix: String,
}

/// The environment `name` in `file`; an unknown name lists the names the file has.
pub fn load(file: &Path, name: &str) -> Result<Environment> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read environments file '{}'", file.display()))?;
    parse(&text, name).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))
}

fn parse(text: &str, name: &str) -> Result<Environment> {
    let table: toml::Table = text.parse().context("not valid toml")?;
    let Some(env) = table.get(name) else {
        let names: Vec<&str> = table.keys().map(String::as_str).collect();
        bail!(
            "no environment '{name}'; the file has {}",
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        );
    };
    let Some(env) = env.as_table() else {
        bail!("'{name}' is not a table like [{name}]");
    };
    for key in env.keys() {
        if !["app_id", "page_url", "name_suffix"].contains(&key.as_str()) {
            bail!("[{name}] has unknown key '{key}'; known: app_id, page_url, name_suffix");
        }
    }
    let text_of = |key: &str, required: bool| -> Result<String> {
        match env.get(key) {
            Some(toml::Value::String(s)) => Ok(s.clone()),
            Some(other) => bail!("[{name}] {key} is {}, not a string", other.type_str()),
            None if required => bail!("[{name}] has no {key}"),
            None => Ok(String::new()),
        }
    };
    Ok(Environment {
        app_id: text_of("app_id", true)?,
        page_url: text_of("page_url", true)?,
        name_suffix: text_of("name_suffix", false)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
[dev]
app_id = "1f0c5ab4-3c1e-4f6b-9d3a-0a6c1b2d3e4f"
page_url = "https://dev.example.com/"
name_suffix = " (dev)"

[production]
app_id = "2f0c5ab4-3c1e-4f6b-9d3a-0a6c1b2d3e4f"
page_url = "https://example.com/"
"#;

    #[test]
    fn a_named_environment_is_read_with_an_optional_suffix() {
        let dev = parse(FILE, "dev").unwrap();
        assert_eq!(dev.app_id, "1f0c5ab4-3c1e-4f6b-9d3a-0a6c1b2d3e4f");
        assert_eq!(dev.page_url, "https://dev.example.com/");
        assert_eq!(dev.name_suffix, " (dev)");
        assert_eq!(parse(FILE, "production").unwrap().name_suffix, "");
    }

    #[test]
    fn bad_files_say_what_is_wrong() {
        let e = |text: &str, name: &str| parse(text, name).unwrap_err().to_string();
        assert_eq!(
            e(FILE, "qa"),
            "no environment 'qa'; the file has dev, production"
        );
        assert_eq!(e("", "qa"), "no environment 'qa'; the file has none");
        assert_eq!(
            e("[qa]\npage_url = \"https://x/\"", "qa"),
            "[qa] has no app_id"
        );
        assert_eq!(
            e("[qa]\napp_id = 1\npage_url = \"https://x/\"", "qa"),
            "[qa] app_id is integer, not a string"
        );
        assert_eq!(
            e("[qa]\napp_id = \"a\"\npage_url = \"b\"\nurl = \"c\"", "qa"),
            "[qa] has unknown key 'url'; known: app_id, page_url, name_suffix"
        );
        assert_eq!(e("qa = 1", "qa"), "'qa' is not a table like [qa]");
    }
}

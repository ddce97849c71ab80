//! The official Teams schemas from the npm package `@microsoft/app-manifest`, checked offline.

use std::path::PathBuf;

use anyhow::{Context, Result};
use serde_json::Value;

use crate::setup::root;

fn schema_root() -> PathBuf {
    root().join("node_modules/@microsoft/app-manifest/build/json-schemas/teams")
}

/// The highest `vX.Y` the npm package ships (never vDevPreview).
pub fn newest_version() -> Result<String> {
    let dir = schema_root();
    let entries =
        std::fs::read_dir(&dir).with_context(|| format!("cannot read {}", dir.display()))?;
    let mut best: Option<(u32, u32)> = None;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some((major, minor)) = name.strip_prefix('v').and_then(|v| v.split_once('.')) else {
            continue;
        };
        if let (Ok(a), Ok(b)) = (major.parse(), minor.parse()) {
            best = best.max(Some((a, b)));
        }
    }
    let (a, b) = best.with_context(|| format!("no schema versions in {}", dir.display()))?;
    Ok(format!("{a}.{b}"))
}

/// Every violation of the manifest schema of `version`, each with its JSON path.
pub fn manifest_problems(manifest: &Value, version: &str) -> Result<Vec<String>> {
    problems(manifest, version, "MicrosoftTeams.schema.json")
}

/// Every violation of the localization-file schema of `version`, each with its JSON path.
pub fn localization_problems(file: &Value, version: &str) -> Result<Vec<String>> {
    problems(file, version, "MicrosoftTeams.Localization.schema.json")
}

fn problems(value: &Value, version: &str, schema_file: &str) -> Result<Vec<String>> {
    let path = schema_root().join(format!("v{version}/{schema_file}"));
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "no schema for manifest version {version} ({})",
            path.display()
        )
    })?;
    let mut schema: Value = serde_json::from_str(&text)?;
    as_meant(&mut schema);
    // The files say draft-04 but use `const` (draft 6+) for manifestVersion and no draft-4-only
    // keyword, so draft 7 checks everything they mean.
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft7)
        .build(&schema)
        .map_err(|e| anyhow::anyhow!("schema {} does not compile: {e}", path.display()))?;
    let mut out: Vec<String> = validator
        .iter_errors(value)
        .map(|e| {
            let at = e.instance_path().to_string();
            format!("{}: {e}", if at.is_empty() { "/".to_string() } else { at })
        })
        .collect();
    out.sort();
    Ok(out)
}

/// Two places where the files mean more than a draft-7 reader sees, made explicit:
/// - ECMA-262 (Annex B) reads a `]` outside a character class as itself, and the localization
///   schema relies on it (`…\b]\.description$`); the Rust regex translation refuses it, so it
///   is escaped in every `pattern` and `patternProperties` key (same meaning).
/// - Before draft 2019-09 a `$ref` hides its siblings, which would drop the localization
///   schema's `maxLength: 30` on `name.short` (`{"maxLength": 30, "$ref": nonEmptyString}`);
///   the `$ref` moves into an `allOf` so both apply.
fn as_meant(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            if let Some(Value::String(p)) = map.get_mut("pattern") {
                *p = escaped(p);
            }
            if let Some(Value::Object(props)) = map.get_mut("patternProperties") {
                let old = std::mem::take(props);
                props.extend(old.into_iter().map(|(k, v)| (escaped(&k), v)));
            }
            let siblings = map
                .keys()
                .any(|k| !["$ref", "description", "default"].contains(&k.as_str()));
            if map.contains_key("$ref") && siblings && !map.contains_key("allOf") {
                let r = map.remove("$ref").unwrap();
                map.insert("allOf".into(), serde_json::json!([{ "$ref": r }]));
            }
            map.values_mut().for_each(as_meant);
        }
        Value::Array(items) => items.iter_mut().for_each(as_meant),
        _ => {}
    }
}

fn escaped(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let (mut in_class, mut chars) = (false, pattern.chars());
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                out.push(c);
                out.extend(chars.next());
                continue;
            }
            '[' => in_class = true,
            ']' if in_class => in_class = false,
            ']' => out.push('\\'),
            _ => {}
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_brackets_outside_a_class_are_escaped() {
        assert_eq!(
            escaped(r"^a\[\b([0-9]|1[01][0-9])\b]\.d$"),
            r"^a\[\b([0-9]|1[01][0-9])\b\]\.d$"
        );
        assert_eq!(escaped(r"^[\]a]+\]$"), r"^[\]a]+\]$");
    }

    #[test]
    fn a_refs_siblings_apply_too() {
        let mut s = serde_json::json!({
            "properties": { "n": { "maxLength": 3, "$ref": "#/definitions/s" } },
            "definitions": { "s": { "type": "string", "minLength": 1 } },
        });
        as_meant(&mut s);
        let v = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft7)
            .build(&s)
            .unwrap();
        assert!(v.is_valid(&serde_json::json!({ "n": "abc" })));
        assert!(!v.is_valid(&serde_json::json!({ "n": "abcd" })));
        assert!(!v.is_valid(&serde_json::json!({ "n": "" })));
    }
}

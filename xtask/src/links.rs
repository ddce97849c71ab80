//! Every relative link in README.md and docs/*.md leads somewhere: to a file that exists and,
//! with a `#fragment`, to a heading in it, by GitHub's anchor rules. Run by `cargo test -p
//! xtask`, so by `cargo xtask test`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// GitHub's anchor for a heading: lower case, punctuation dropped (letters, digits, `-` and
/// `_` stay), each space a `-`.
pub fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ' '))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The lines of `markdown` outside fenced code blocks, with their numbers (from 1).
fn prose(markdown: &str) -> Vec<(usize, &str)> {
    let mut fenced = false;
    let mut lines = Vec::new();
    for (i, line) in markdown.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if !fenced {
            lines.push((i + 1, line));
        }
    }
    lines
}

/// The anchors of `markdown`'s headings; a repeated one gets `-1`, `-2`… as on GitHub.
pub fn anchors(markdown: &str) -> Vec<String> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut out = Vec::new();
    for (_, line) in prose(markdown) {
        let hashes = line.chars().take_while(|c| *c == '#').count();
        let Some(text) = line[hashes..].strip_prefix(' ') else {
            continue;
        };
        if !(1..=6).contains(&hashes) {
            continue;
        }
        let base = slug(text);
        let n = seen.entry(base.clone()).or_insert(0);
        out.push(if *n == 0 { base } else { format!("{base}-{n}") });
        *n += 1;
    }
    out
}

/// `line` without its inline code spans, where `](…)` is text, not a link.
fn without_code(line: &str) -> String {
    line.split('`').step_by(2).collect::<Vec<_>>().join("")
}

/// The targets of `markdown`'s inline links and images that point inside the repository
/// (no scheme), with their line numbers.
pub fn relative_links(markdown: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (n, line) in prose(markdown) {
        let text = without_code(line);
        let mut rest = text.as_str();
        while let Some(at) = rest.find("](") {
            rest = &rest[at + 2..];
            let Some(end) = rest.find(')') else { break };
            // A link's title ("…") follows a space; the target is what comes before.
            let target = rest[..end].split(' ').next().unwrap_or_default();
            rest = &rest[end..];
            let external = target.contains("://") || target.starts_with("mailto:");
            if !external && !target.is_empty() {
                out.push((n, target.to_string()));
            }
        }
    }
    out
}

/// What is wrong with the link `target` written in `file`: `None` when it resolves.
pub fn problem(file: &Path, target: &str) -> Option<String> {
    let (path, fragment) = match target.split_once('#') {
        Some((p, f)) => (p, Some(f)),
        None => (target, None),
    };
    let dest: PathBuf = if path.is_empty() {
        file.to_path_buf()
    } else {
        file.parent().unwrap_or(Path::new("")).join(path)
    };
    if !dest.exists() {
        return Some(format!("'{target}': {} does not exist", dest.display()));
    }
    let fragment = fragment?;
    let text = std::fs::read_to_string(&dest).ok();
    let Some(text) = text.filter(|_| dest.extension().is_some_and(|e| e == "md")) else {
        return Some(format!(
            "'{target}': a #fragment on {}, which is no Markdown file",
            dest.display()
        ));
    };
    let anchors = anchors(&text);
    (!anchors.iter().any(|a| a == fragment)).then(|| {
        format!(
            "'{target}': {} has no heading '#{fragment}' (it has: {})",
            dest.display(),
            anchors.join(", ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_follow_githubs_rules() {
        assert_eq!(
            slug("Today's Teams: a tab and a Workflows webhook"),
            "todays-teams-a-tab-and-a-workflows-webhook"
        );
        assert_eq!(
            slug("Changing the form: `connector.toml`"),
            "changing-the-form-connectortoml"
        );
        assert_eq!(slug("Secrets in files (`_FILE`)"), "secrets-in-files-_file");
        assert_eq!(
            slug("PostgreSQL: pg_dump, keys in the secret store"),
            "postgresql-pg_dump-keys-in-the-secret-store"
        );
        assert_eq!(
            slug("Only Teams' webhook hosts"),
            "only-teams-webhook-hosts"
        );
        assert_eq!(slug("Größe & Zeit"), "größe--zeit");
    }

    #[test]
    fn repeated_headings_are_numbered_and_code_blocks_are_not_headings() {
        let md = "# A\n\n## A\n\n```sh\n# not a heading\n```\n\n#no space\n####### seven\n## A\n";
        assert_eq!(anchors(md), ["a", "a-1", "a-2"]);
    }

    #[test]
    fn links_in_code_and_external_links_are_left_out() {
        let md = "See [x](docs/x.md#y) and ![i](i.png \"title\"), `[no](code.md)`,\n\
                  [web](https://example.com) and [same](#here).\n```\n[fenced](f.md)\n```\n";
        assert_eq!(
            relative_links(md),
            [
                (1, "docs/x.md#y".to_string()),
                (1, "i.png".to_string()),
                (2, "#here".to_string())
            ]
        );
    }

    #[test]
    fn a_missing_file_or_heading_is_a_problem() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.md");
        std::fs::write(&a, "# Top\n\n## Second part\n").unwrap();
        assert_eq!(problem(&a, "#second-part"), None);
        assert_eq!(problem(&a, "a.md#top"), None);
        let missing = problem(&a, "a.md#third").unwrap();
        assert!(missing.contains("no heading '#third'"), "{missing}");
        assert!(missing.contains("top, second-part"), "{missing}");
        assert!(problem(&a, "b.md").unwrap().contains("does not exist"));
    }

    /// The repository's own documentation.
    #[test]
    fn every_relative_link_in_the_readme_and_docs_resolves() {
        let root = crate::setup::root();
        let mut files = vec![root.join("README.md")];
        let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
            .expect("docs/ exists")
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "md"))
            .collect();
        docs.sort();
        assert!(docs.len() > 5, "docs/*.md: {docs:?}");
        files.extend(docs);
        let mut problems = Vec::new();
        let mut checked = 0;
        for file in &files {
            let text = std::fs::read_to_string(file).unwrap();
            for (line, target) in relative_links(&text) {
                checked += 1;
                if let Some(p) = problem(file, &target) {
                    let shown = file.strip_prefix(&root).unwrap_or(file).display();
                    problems.push(format!("{shown}:{line}: {p}"));
                }
            }
        }
        assert!(checked > 30, "only {checked} links found");
        assert!(
            problems.is_empty(),
            "broken links:\n{}",
            problems.join("\n")
        );
    }
}

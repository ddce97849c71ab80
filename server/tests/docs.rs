//! docs/configuration.md is the server's command line as clap defines it (server/src/config.rs
//! and server/src/cli.rs): every flag of the server and of each command, its variable, default
//! and help. This test writes it when `CONNECTOR_WRITE_DOCS=1` (`cargo xtask docs`) and
//! otherwise fails when the file is not what the definitions give.

#[path = "docs/admin_openapi.rs"]
mod admin_openapi;

use clap::CommandFactory;
use connector_server::cli::Cli;

const FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/configuration.md");

/// A table cell: one line, `|` escaped, and `<` outside code spans kept from being read as
/// HTML.
fn cell(text: &str) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    one_line
        .split('`')
        .enumerate()
        .map(|(i, part)| {
            let part = part.replace('|', "\\|");
            if i % 2 == 0 {
                part.replace('<', "&lt;")
            } else {
                part
            }
        })
        .collect::<Vec<_>>()
        .join("`")
}

fn flag(arg: &clap::Arg) -> String {
    let mut names = Vec::new();
    if let Some(s) = arg.get_short() {
        names.push(format!("-{s}"));
    }
    if let Some(l) = arg.get_long() {
        names.push(format!("--{l}"));
    }
    let mut shown = names.join(", ");
    if shown.is_empty() {
        shown = arg.get_id().to_string().to_uppercase();
    }
    let takes_value = arg.get_num_args().is_some_and(|n| n.takes_values())
        || matches!(
            arg.get_action(),
            clap::ArgAction::Set | clap::ArgAction::Append
        );
    if takes_value && arg.get_long().is_some() {
        let value = arg
            .get_value_names()
            .and_then(|v| v.first().map(|s| s.to_string()))
            .unwrap_or_else(|| arg.get_id().to_string().to_uppercase());
        shown = format!("{shown} <{value}>");
    }
    format!("`{shown}`")
}

fn default(arg: &clap::Arg) -> String {
    let values: Vec<String> = arg
        .get_default_values()
        .iter()
        .map(|v| v.to_string_lossy().into_owned())
        .collect();
    let mut out = if values.is_empty() {
        String::new()
    } else {
        format!("`{}`", values.join(","))
    };
    let choices: Vec<String> = arg
        .get_possible_values()
        .iter()
        .filter(|p| !p.is_hide_set())
        .map(|p| format!("`{}`", p.get_name()))
        .collect();
    let is_flag = matches!(
        arg.get_action(),
        clap::ArgAction::SetTrue | clap::ArgAction::SetFalse
    );
    if !choices.is_empty() && !is_flag {
        out = format!("{out} (one of {})", choices.join(", "))
            .trim()
            .to_string();
    }
    out
}

fn section(out: &mut String, path: &str, cmd: &clap::Command) {
    let args: Vec<&clap::Arg> = cmd
        .get_arguments()
        .filter(|a| !a.is_hide_set() && !matches!(a.get_id().as_str(), "help" | "version"))
        .collect();
    out.push_str(&format!("\n## `{path}`\n\n"));
    if let Some(about) = cmd.get_long_about().or(cmd.get_about()) {
        out.push_str(&format!("{}\n\n", about.to_string().trim()));
    }
    if args.is_empty() {
        out.push_str("No flags of its own.\n");
    } else {
        out.push_str("| flag | variable | default | what |\n|---|---|---|---|\n");
        for arg in args {
            let env = arg
                .get_env()
                .map(|e| format!("`{}`", e.to_string_lossy()))
                .unwrap_or_default();
            let help = arg
                .get_long_help()
                .or(arg.get_help())
                .map(|h| h.to_string())
                .unwrap_or_default();
            let required = if arg.is_required_set() {
                "Required. "
            } else {
                ""
            };
            out.push_str(&format!(
                "| {} | {env} | {} | {required}{} |\n",
                flag(arg),
                default(arg),
                cell(&help)
            ));
        }
    }
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        section(out, &format!("{path} {}", sub.get_name()), sub);
    }
}

/// The page, from the definitions.
fn render() -> String {
    let cli = Cli::command();
    let mut out = String::from(
        "# Configuration: every flag and variable\n\n\
         Generated from the server's command line definitions (`server/src/config.rs`,\n\
         `server/src/cli.rs`) by `cargo xtask docs`: edit those, not this file. Every flag of\n\
         the server has an environment variable; a flag given wins over its variable. The\n\
         server's flags go before a command (`connector-server --db FILE dead`), and the\n\
         commands that work on the database read them too. Secrets can also be given as\n\
         files: [deploy.md](deploy.md#secrets-in-files-_file).\n",
    );
    section(&mut out, "connector-server", &cli);
    out
}

#[test]
fn the_configuration_page_is_generated_from_the_command_line_definitions() {
    let want = render();
    if std::env::var_os("CONNECTOR_WRITE_DOCS").is_some_and(|v| v == "1") {
        std::fs::write(FILE, &want).unwrap_or_else(|e| panic!("cannot write {FILE}: {e}"));
        return;
    }
    let have = std::fs::read_to_string(FILE).unwrap_or_default();
    assert!(
        have == want,
        "docs/configuration.md is stale (or missing): regenerate it with `cargo xtask docs`"
    );
}

#[test]
fn the_page_names_every_variable_and_hides_the_test_only_flags() {
    let page = render();
    for name in [
        "CONNECTOR_DB",
        "DATABASE_URL_FILE",
        "CONNECTOR_WORKFLOWS_DAILY_BUDGET",
    ] {
        assert!(page.contains(&format!("`{name}`")), "{name} missing");
    }
    assert!(page.contains("## `connector-server keys generate`"));
    assert!(page.contains("| `--port <PORT>` | `CONNECTOR_PORT` | `8080` |"));
    assert!(page.contains("(one of `all`, `api`, `delivery`)"));
    assert!(!page.contains("CONNECTOR_TEST_RETRY_DIVISOR"));
    assert!(!page.contains("--help"));
}

#[test]
fn cells_stay_one_line_and_keep_html_out() {
    assert_eq!(
        cell("a <db>.key\n  or `a|b <c>`"),
        "a &lt;db>.key or `a\\|b <c>`"
    );
}

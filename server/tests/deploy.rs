//! The deploy files (deploy/) name only variables the server reads, and the example
//! environment file lists every one it reads.

use std::collections::BTreeSet;

use clap::CommandFactory;
use connector_server::cli::Cli;

/// The variables the server and its commands read, but not the hidden ones (tests only).
fn accepted() -> (BTreeSet<String>, BTreeSet<String>) {
    let cli = Cli::command();
    let names = |cmd: &clap::Command| -> BTreeSet<String> {
        cmd.get_arguments()
            .filter(|a| !a.is_hide_set())
            .filter_map(|a| a.get_env())
            .map(|e| e.to_string_lossy().into_owned())
            .collect()
    };
    let server = names(&cli);
    let commands = cli.get_subcommands().flat_map(names).collect();
    (server, commands)
}

fn read(name: &str) -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/").to_string() + name;
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

/// Every `CONNECTOR_…` name in `text`, and `DATABASE_URL` if named.
fn named(text: &str) -> BTreeSet<String> {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    text.split(|c: char| !word(c))
        .filter(|w| w.starts_with("CONNECTOR_") || *w == "DATABASE_URL")
        .map(str::to_string)
        .collect()
}

#[test]
fn the_deploy_files_name_only_variables_the_server_reads() {
    let (server, commands) = accepted();
    assert!(server.contains("CONNECTOR_DB") && server.contains("DATABASE_URL"));
    for file in [
        "compose.yaml",
        "connector.service",
        "connector.env.example",
        "Caddyfile",
    ] {
        let unknown: Vec<String> = named(&read(file))
            .into_iter()
            .filter(|n| !server.contains(n) && !commands.contains(n))
            .collect();
        assert!(
            unknown.is_empty(),
            "deploy/{file} names {unknown:?}, which connector-server does not read"
        );
    }
}

#[test]
fn the_example_environment_lists_every_variable_the_server_reads() {
    let (server, commands) = accepted();
    let listed: BTreeSet<String> = read("connector.env.example")
        .lines()
        .filter_map(|l| l.trim_start_matches(['#', ' ']).split_once('='))
        .map(|(name, _)| name.to_string())
        .collect();
    let missing: Vec<&String> = server
        .union(&commands)
        .filter(|n| !listed.contains(*n))
        .collect();
    assert!(
        missing.is_empty(),
        "deploy/connector.env.example does not list {missing:?}"
    );
}

#[test]
fn names_are_whole_words() {
    assert_eq!(
        named("A=${CONNECTOR_DB:-x} TEAMS_CONNECTOR_IMAGE DATABASE_URLS CONNECTOR_PORT=1"),
        BTreeSet::from(["CONNECTOR_DB".to_string(), "CONNECTOR_PORT".to_string()])
    );
}

//! `cargo xtask <task>`: the project's tasks. `run` and `test` first install whatever is
//! missing (and say what they install), so a fresh machine needs only these two commands.

mod accounts;
mod admin_page;
mod bench_page;
mod build;
mod compress;
mod dist;
mod headers;
mod image;
mod image_test;
#[cfg(test)]
mod links;
mod package;
mod postgres;
mod setup;
mod size;
mod tasks;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The project's tasks; `run` and `test` install whatever is missing first.
#[derive(Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Build the page, start page + server + Teams host emulator on SQLite.
    Run(tasks::RunArgs),
    /// Run every test: formatting and clippy, settings, server on SQLite and on a throwaway
    /// PostgreSQL (CONNECTOR_TEST_DATABASE_URL=postgres://... uses that server instead),
    /// page in Chromium, end-to-end, the container image on SQLite and PostgreSQL (as root).
    Test,
    /// Build the page into dist/.
    Build(build::BuildArgs),
    /// Build a deployable dist/ for a static host or CDN, with config.json and _headers for
    /// that API.
    Dist(dist::Dist),
    /// Write the Teams app package, validated against the official schema (or validate an
    /// existing one with --check).
    Package(Box<package::Options>),
    /// Benchmarks: delivery (the server) and page (start-up in the emulator).
    #[command(subcommand)]
    Bench(tasks::Bench),
    /// Build the release page and print what the iframe downloads, raw, gzip and brotli,
    /// against the goals.
    Size,
    /// Build a FROM scratch container image (podman) of the static server and the release
    /// page; with --test, check it and deliver a card from its root filesystem.
    Image(image::ImageArgs),
    /// Only install what is missing (also PostgreSQL for the tests).
    Setup,
    /// Rewrite docs/configuration.md from the server's command line definitions.
    Docs,
}

fn main() -> ExitCode {
    let result = match Cli::parse().task {
        Task::Run(args) => tasks::run(&args),
        Task::Test => tasks::test(),
        Task::Build(args) => build::build_cmd(&args),
        Task::Size => size::report(),
        Task::Dist(d) => dist::run(&d),
        Task::Bench(b) => tasks::bench(&b),
        Task::Package(o) => package::run(&o),
        Task::Image(args) => image::run(&args),
        Task::Docs => tasks::docs(),
        Task::Setup => setup::install(setup::SETUP),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // The whole chain on one line, as ripgrep does.
            let chain: Vec<String> = e.chain().map(|c| c.to_string()).collect();
            eprintln!("xtask: {}", chain.join(": "));
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}

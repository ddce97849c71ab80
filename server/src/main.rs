use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use connector_server::cli::{self, Cli};
use connector_server::config::Config;
use connector_server::startup::Application;

/// glibc's malloc and free took a fifth of the server's time under load (perf, bench api).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let mut cli = Cli::parse();
    connector_server::logging::init(cli.config.log_format);
    let result = match cli.config.read_secret_files() {
        Err(e) => Err(e),
        Ok(()) => match cli.command {
            Some(command) => cli::run(command, &cli.config).await,
            None => {
                let dev = cli.config.dev;
                run(cli.config, dev).await
            }
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let mut chain: Vec<String> = Vec::new();
            for cause in e.chain().map(|c| c.to_string()) {
                // Some errors (sqlx, io) repeat their source in their own text.
                if !chain.last().is_some_and(|last| last.ends_with(&cause)) {
                    chain.push(cause);
                }
            }
            eprintln!("connector-server: {}", chain.join(": "));
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config, dev: bool) -> anyhow::Result<()> {
    // Each client connection holds a descriptor: the default soft limit (often 1,024) would
    // run out long before the connection cap.
    match connector_server::serve::raise_fd_limit() {
        Ok(limit) => tracing::info!(
            fd_limit = limit,
            max_connections = config.max_connections,
            "descriptor limit"
        ),
        Err(e) => tracing::warn!(error = %e, "cannot raise the descriptor limit"),
    }
    let app = Application::build(config).await?;
    // Tools (xtask, the end-to-end tests) read these lines.
    // Written, not println!: a closed stdout must not stop the server.
    let mut out = std::io::stdout();
    let _ = writeln!(out, "listening on {}/", app.url());
    if let Some(metrics) = app.metrics_url() {
        let _ = writeln!(out, "metrics on {metrics}");
    }
    if dev {
        let _ = writeln!(out, "emulator: {}/emulator/", app.url());
    }
    let _ = out.flush();
    app.run_until_stopped().await?;
    Ok(())
}

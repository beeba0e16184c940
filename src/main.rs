use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;
use warroom::cli::{Cli, Command};
use warroom::cmd;

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn,warroom=info")))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(cmd::EXIT_ERROR);
        }
    };
    runtime.block_on(async {
        match &cli.command {
            Command::Run(args) => cmd::run::run(args).await,
            Command::Check(args) => cmd::check::check(args).await,
            Command::Watch(args) => cmd::watch::watch(args).await,
            Command::Init { dir } => cmd::init::init(dir),
        }
    })
}

//! The command line (SPEC §3).

use std::path::PathBuf;

use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand};

/// Declarative sales war-room reports: KPIs, targets and alerts in TOML,
/// evaluated by DataFusion over CSV and Parquet.
#[derive(Debug, Parser)]
#[command(name = "warroom", version)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Evaluate reports and write their outputs.
    Run(RunArgs),
    /// Validate every file and plan every SQL text without running reports.
    Check(ProjectArgs),
    /// Run once, then re-run the reports whose data or definitions change.
    Watch(WatchArgs),
    /// Scaffold a small working project in DIR.
    Init {
        /// The folder to create (must be empty or missing).
        dir: PathBuf,
    },
}

/// Selects the project.
#[derive(Debug, Args)]
pub struct ProjectArgs {
    /// The project folder.
    #[arg(long, default_value = ".")]
    pub project: PathBuf,
}

/// Options of `warroom run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Reports to run (ids, i.e. file stems in reports/); default: all.
    pub reports: Vec<String>,
    /// The project folder.
    #[command(flatten)]
    pub project: ProjectArgs,
    /// Evaluate as of this date (YYYY-MM-DD) instead of the report's or the data's.
    #[arg(long, value_name = "DATE")]
    pub as_of: Option<NaiveDate>,
    /// Output folder; default: out/ in the project.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Mail each report by its `[email]` policy, through `.warroom/outbox/`.
    #[arg(long)]
    pub send: bool,
    /// Write each mail that would be sent as DIR/<report>.eml instead.
    #[arg(long, value_name = "DIR", conflicts_with = "send")]
    pub dry_run_mail: Option<PathBuf>,
    /// Formats to render besides results.json (default: the report's `formats`).
    #[arg(long, value_name = "FORMATS", value_delimiter = ',', value_parser = ["html", "md"])]
    pub format: Option<Vec<String>>,
    /// Exit with code 3 when a new or ongoing alert at or above this severity fires.
    #[arg(long, value_name = "SEVERITY", value_parser = ["info", "warning", "critical"])]
    pub fail_on: Option<String>,
}

/// Options of `warroom watch`.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Reports to keep up to date (ids); default: all.
    pub reports: Vec<String>,
    /// The project folder.
    #[command(flatten)]
    pub project: ProjectArgs,
    /// Output folder; default: out/ in the project.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Mail each report by its `[email]` policy, through `.warroom/outbox/`,
    /// and retry what the outbox holds when it is due.
    #[arg(long)]
    pub send: bool,
    /// Formats to render besides results.json (default: the report's `formats`).
    #[arg(long, value_name = "FORMATS", value_delimiter = ',', value_parser = ["html", "md"])]
    pub format: Option<Vec<String>>,
    /// Compare the folders every half debounce window instead of relying on
    /// change notification (network and container file systems).
    #[arg(long)]
    pub poll: bool,
}

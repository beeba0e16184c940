//! One module per subcommand, each a thin layer over the stage modules.

pub mod check;
pub mod init;
pub mod run;
pub mod watch;

use std::process::ExitCode;

use datafusion::execution::session_state::SessionState;

use crate::config::diagnostic::{Diagnostic, suggestion};
use crate::config::model::{OutputFormat, Project};
use crate::engine::session::base_state;
use crate::engine::tables::SharedSources;

/// Exit code 1: a configuration or data error.
pub const EXIT_ERROR: u8 = 1;
/// Exit code 2: bad usage.
pub const EXIT_USAGE: u8 = 2;
/// Exit code 3: `--fail-on` reached.
pub const EXIT_FAIL_ON: u8 = 3;

/// Prints problems to stderr, each followed by a blank line, errors and
/// warnings in the order found, then a count.
pub fn print_problems(problems: &[Diagnostic]) {
    let mut sorted: Vec<&Diagnostic> = problems.iter().collect();
    // File order, then position; problems outside TOML files last.
    sorted.sort_by_key(|p| match &p.location {
        Some(l) => (0, l.file.path.clone(), l.span.start),
        None => (1, p.path.clone().unwrap_or_default(), 0),
    });
    for problem in sorted {
        eprintln!("{problem}\n");
    }
    let errors = problems.iter().filter(|p| p.is_error()).count();
    if errors > 0 {
        let plural = if errors == 1 { "" } else { "s" };
        eprintln!("error: {errors} problem{plural} found");
    }
}

/// 0 without errors, else 1.
pub fn exit_code(problems: &[Diagnostic]) -> ExitCode {
    if problems.iter().any(Diagnostic::is_error) {
        ExitCode::from(EXIT_ERROR)
    } else {
        ExitCode::SUCCESS
    }
}

/// Builds the run's DataFusion state and loads the shared sources once;
/// their problems go to `problems`. `None` when the engine cannot start.
pub async fn start_engine(project: &Project, problems: &mut Vec<Diagnostic>) -> Option<(SessionState, SharedSources)> {
    let state = match base_state(&project.engine) {
        Ok(state) => state,
        Err(e) => {
            problems.push(Diagnostic::in_file("warroom.toml", "engine", e.to_string()));
            return None;
        }
    };
    let shared = SharedSources::load(&state, project).await;
    problems.extend(shared.problems());
    Some((state, shared))
}

/// Checks that every report named on the command line exists; prints the
/// usage error (with a suggestion) for the first that does not.
pub fn check_selected(root: &std::path::Path, project: &Project, wanted: &[String]) -> Result<(), ExitCode> {
    for name in wanted {
        if !project.reports.contains_key(name) {
            let hint = suggestion(name, project.reports.keys().map(String::as_str));
            eprintln!("error: no report `{name}` in {}{hint}", root.join("reports").display());
            return Err(ExitCode::from(EXIT_USAGE));
        }
    }
    Ok(())
}

/// `--format` names as formats.
pub fn formats(names: &[String]) -> Vec<OutputFormat> {
    names
        .iter()
        .map(|n| {
            if n == "html" {
                OutputFormat::Html
            } else {
                OutputFormat::Markdown
            }
        })
        .collect()
}

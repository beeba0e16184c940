//! `warroom run`: evaluate reports and write `out/<report>/`.

use std::process::ExitCode;

use chrono::Utc;

use super::{EXIT_FAIL_ON, EXIT_USAGE, exit_code, print_problems, start_engine};
use crate::alerts::state::{self as alert_state, State};
use crate::cli::RunArgs;
use crate::config::diagnostic::{Diagnostic, Diagnostics, suggestion};
use crate::config::load_project;
use crate::config::model::Severity;
use crate::config::model::{OutputFormat, Report};
use crate::engine::report::evaluate_report;
use crate::output::write_report_outputs;
use crate::render::context::render_context;
use crate::render::{Renderer, extension};

/// Runs `warroom run`.
pub async fn run(args: &RunArgs) -> ExitCode {
    let root = &args.project.project;
    let mut diags = Diagnostics::default();
    let project = load_project(root, &mut diags);
    for wanted in &args.reports {
        if !project.reports.contains_key(wanted) {
            let hint = suggestion(wanted, project.reports.keys().map(String::as_str));
            eprintln!(
                "error: no report `{wanted}` in {}{hint}",
                root.join("reports").display()
            );
            return ExitCode::from(EXIT_USAGE);
        }
    }
    let mut problems: Vec<Diagnostic> = diags.into_vec();
    let Some((state, shared)) = start_engine(&project, &mut problems).await else {
        print_problems(&problems);
        return exit_code(&problems);
    };
    let out_dir = args.out.clone().unwrap_or_else(|| root.join("out"));
    let today = Utc::now().date_naive();
    let selected = project
        .reports
        .values()
        .filter(|r| args.reports.is_empty() || args.reports.contains(&r.id))
        .filter(|r| !r.broken);
    let fail_on = args.fail_on.as_deref().and_then(Severity::parse);
    let renderer = Renderer::new(root);
    let jobs = selected.map(|report| async {
        let started = std::time::Instant::now();
        let mut evaluation = evaluate_report(&state, &project, &shared, report, args.as_of, today).await?;
        let store_path = alert_state::store_path(root, &report.id);
        let store = alert_state::load(&store_path).map_err(|e| {
            vec![Diagnostic::in_file(
                store_path.display().to_string(),
                format!("report {}", report.id),
                format!("cannot read alert states: {e}"),
            )]
        })?;
        let (entries, next_store) = alert_state::transition(&store, &evaluation.alerts, evaluation.results.as_of);
        evaluation.results.alerts = entries;
        let mut files = vec![(
            "results.json".to_string(),
            serde_json::to_vec_pretty(&evaluation.results).expect("results serialize"),
        )];
        let context = render_context(&evaluation.results);
        for format in formats_for(report, args.format.as_deref()) {
            let text = renderer.render(report, format, &context).map_err(|e| vec![e])?;
            files.push((format!("report.{}", extension(format)), text.into_bytes()));
        }
        let written = write_report_outputs(&out_dir, &report.id, &files).map_err(|e| {
            vec![Diagnostic::in_file(
                out_dir.join(&report.id).display().to_string(),
                format!("report {}", report.id),
                format!("cannot write outputs: {e}"),
            )]
        })?;
        if let Some(next) = next_store {
            alert_state::save(&store_path, &next).map_err(|e| {
                vec![Diagnostic::in_file(
                    store_path.display().to_string(),
                    format!("report {}", report.id),
                    format!("cannot write alert states: {e}"),
                )]
            })?;
        }
        let results = &evaluation.results;
        let failing = fail_on.is_some_and(|level| {
            results
                .alerts
                .iter()
                .any(|a| a.state != State::Resolved && a.severity >= level)
        });
        println!(
            "{}: {} as of {}, {} KPIs, {} queries, {:.0?} → {}",
            report.id,
            results.period.label,
            results.as_of,
            results.kpis.len(),
            evaluation.queries,
            started.elapsed(),
            written.display()
        );
        for alert in &results.alerts {
            println!(
                "  {:?} {:?} {}: {}",
                alert.severity, alert.state, alert.key, alert.message
            );
        }
        Ok::<_, Vec<Diagnostic>>((failing, evaluation.warnings))
    });
    let mut reached = false;
    for result in futures::future::join_all(jobs).await {
        match result {
            Ok((failing, warnings)) => {
                reached |= failing;
                problems.extend(warnings);
            }
            Err(report_problems) => problems.extend(
                report_problems
                    .into_iter()
                    .filter(|p| !p.message.starts_with("shared source `")),
            ),
        }
    }
    print_problems(&problems);
    // A configuration or data error (exit 1) wins over --fail-on (exit 3).
    if !problems.iter().any(Diagnostic::is_error) && reached {
        eprintln!(
            "error: an alert at or above --fail-on {} fires",
            args.fail_on.as_deref().unwrap_or_default()
        );
        return ExitCode::from(EXIT_FAIL_ON);
    }
    exit_code(&problems)
}

/// The formats to render: `--format` when given, else the report's.
fn formats_for(report: &Report, cli: Option<&[String]>) -> Vec<OutputFormat> {
    match cli {
        Some(names) => names
            .iter()
            .map(|n| {
                if n == "html" {
                    OutputFormat::Html
                } else {
                    OutputFormat::Markdown
                }
            })
            .collect(),
        None => report.formats.clone(),
    }
}

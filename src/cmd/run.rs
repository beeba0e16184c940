//! `warroom run`: evaluate reports and write `out/<report>/`.

use std::path::Path;
use std::process::ExitCode;

use chrono::Utc;

use super::{EXIT_FAIL_ON, EXIT_USAGE, exit_code, print_problems, start_engine};
use crate::alerts::state::{self as alert_state, State};
use crate::cli::RunArgs;
use crate::config::diagnostic::{Diagnostic, Diagnostics, suggestion};
use crate::config::load_project;
use crate::config::model::{EmailConfig, OutputFormat, Report, Severity};
use crate::deliver::compose::compose;
use crate::deliver::fingerprint::fingerprint;
use crate::deliver::outbox;
use crate::deliver::policy::{self, MailLog};
use crate::deliver::smtp::{self, Connection};
use crate::engine::report::evaluate_report;
use crate::output::write_report_outputs;
use crate::render::context::render_context;
use crate::render::{Renderer, extension};
use crate::results::Results;

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
    // With --send, a missing or broken connection is one error up front.
    let connection = if args.send {
        match smtp::connection(project.smtp.as_ref()) {
            Ok(c) => Some(c),
            Err(e) => {
                problems.push(Diagnostic::in_file("warroom.toml", "smtp", e));
                print_problems(&problems);
                return exit_code(&problems);
            }
        }
    } else {
        None
    };
    let sender = connection
        .as_ref()
        .and_then(|c| c.from.clone())
        .or_else(|| project.smtp.as_ref().map(|s| s.from.clone()));
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
        if let Some(email) = &report.email
            && (args.send || args.dry_run_mail.is_some())
        {
            mail_report(
                root,
                &renderer,
                report,
                email,
                results,
                &context,
                sender.as_deref(),
                args,
            )?;
        }
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
                "  {} {} {}: {}",
                alert.severity.name(),
                format!("{:?}", alert.state).to_lowercase(),
                alert.key,
                alert.message
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
    if let Some(connection) = &connection {
        problems.extend(deliver_outbox(root, connection).await);
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

/// Queues (with `--send`) or writes as .eml (with `--dry-run-mail`) the
/// report's mail when its send policy says so.
#[allow(clippy::too_many_arguments)]
fn mail_report(
    root: &Path,
    renderer: &Renderer,
    report: &Report,
    email: &EmailConfig,
    results: &Results,
    context: &serde_json::Value,
    sender: Option<&str>,
    args: &RunArgs,
) -> Result<(), Vec<Diagnostic>> {
    let problem = |message: String| {
        vec![Diagnostic::in_file(
            report.location.file.path.clone(),
            format!("report {}", report.id),
            message,
        )]
    };
    let fingerprint = fingerprint(results);
    let log = policy::load(&policy::log_path(root, &report.id))
        .map_err(|e| problem(format!("cannot read the mail log: {e}")))?;
    if !policy::should_send(email, &log, &fingerprint, results) {
        return Ok(());
    }
    let from = sender.unwrap_or("warroom <warroom@localhost>");
    let queued = compose(renderer, report, email, results, context, &fingerprint, from).map_err(|e| vec![e])?;
    if let Some(dir) = &args.dry_run_mail {
        let path = dir.join(format!("{}.eml", report.id));
        crate::state::write_atomic(&path, queued.message.as_bytes())
            .map_err(|e| problem(format!("cannot write {}: {e}", path.display())))?;
        println!("  mail: {} (dry run)", path.display());
    } else {
        outbox::enqueue(root, queued).map_err(|e| problem(format!("cannot queue the mail: {e}")))?;
    }
    Ok(())
}

/// Sends every queued message; an accepted one leaves the outbox and is
/// recorded in the mail log, a failed one stays for the next try.
async fn deliver_outbox(root: &Path, connection: &Connection) -> Vec<Diagnostic> {
    let mut problems = Vec::new();
    let queued = match outbox::pending(root) {
        Ok(q) => q,
        Err(e) => return vec![Diagnostic::in_file(".warroom/outbox", "outbox", e.to_string())],
    };
    for message in queued {
        let sent = {
            let (connection, message) = (connection.clone(), message.clone());
            tokio::task::spawn_blocking(move || {
                smtp::send(
                    &connection,
                    &message.from,
                    &message.recipients,
                    message.message.as_bytes(),
                )
            })
            .await
            .unwrap_or_else(|e| Err(e.to_string()))
        };
        let object = format!("report {}", message.report);
        match sent {
            Ok(()) => {
                let log = MailLog {
                    fingerprint: Some(message.fingerprint.clone()),
                    firing: message.firing.clone(),
                };
                let recorded = crate::state::write_json(&policy::log_path(root, &message.report), &log)
                    .and_then(|()| outbox::delivered(root, &message.report));
                match recorded {
                    Ok(()) => println!(
                        "  mail: {} sent to {}",
                        message.message_id,
                        message.recipients.join(", ")
                    ),
                    Err(e) => problems.push(Diagnostic::in_file(
                        ".warroom/mail",
                        object,
                        format!("mail sent, but: {e}"),
                    )),
                }
            }
            Err(error) => {
                if let Err(e) = outbox::failed(root, &message, &error) {
                    problems.push(Diagnostic::in_file(".warroom/outbox", object.clone(), e.to_string()));
                }
                problems.push(Diagnostic::in_file(
                    ".warroom/outbox",
                    object,
                    format!("{error} (the message stays in the outbox and is retried on the next run)"),
                ));
            }
        }
    }
    problems
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

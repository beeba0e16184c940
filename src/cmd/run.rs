//! `warroom run`: evaluate reports and write `out/<report>/`.

use std::process::ExitCode;

use chrono::Utc;
use futures::future::join_all;

use super::{EXIT_FAIL_ON, check_selected, exit_code, formats, print_problems, start_engine};
use crate::cli::RunArgs;
use crate::config::diagnostic::{Diagnostic, Diagnostics};
use crate::config::load_project;
use crate::config::model::Severity;
use crate::deliver::dispatch::{Which, deliver};
use crate::deliver::smtp;
use crate::engine::tables::without_shared_source_notes;
use crate::lock::ProjectLock;
use crate::pipeline::{MailMode, Mailed, Pass, ReportDone};
use crate::render::Renderer;

/// Runs `warroom run`.
pub async fn run(args: &RunArgs) -> ExitCode {
    let root = &args.project.project;
    let mut diags = Diagnostics::default();
    let project = load_project(root, &mut diags);
    if let Err(code) = check_selected(root, &project, &args.reports) {
        return code;
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
    let sender = smtp::sender(connection.as_ref(), project.smtp.as_ref());
    let mail = match (&args.dry_run_mail, args.send) {
        (Some(dir), _) => MailMode::DryRun(dir.clone()),
        (None, true) => MailMode::Queue,
        (None, false) => MailMode::Off,
    };
    let pass = Pass {
        state: &state,
        project: &project,
        shared: &shared,
        renderer: &renderer,
        as_of: args.as_of,
        today,
        out_dir: &out_dir,
        formats: args.format.as_deref().map(formats),
        mail,
        sender,
    };
    let _lock = match tokio::task::block_in_place(|| {
        ProjectLock::acquire(root, || {
            eprintln!("waiting for another warroom run or watch on this project to finish…")
        })
    }) {
        Ok(lock) => lock,
        Err(e) => {
            problems.push(Diagnostic::in_file(".warroom/lock", "project lock", e.to_string()));
            print_problems(&problems);
            return exit_code(&problems);
        }
    };
    let mut reached = false;
    for (report, result) in selected.clone().zip(join_all(selected.map(|r| pass.report(r))).await) {
        match result {
            Ok(done) => {
                print_done(&report.id, &done);
                reached |= fail_on.is_some_and(|level| done.firing().any(|a| a.severity >= level));
                problems.extend(done.warnings);
            }
            Err(report_problems) => problems.extend(without_shared_source_notes(report_problems)),
        }
    }
    if let Some(connection) = &connection {
        let delivery = deliver(root, connection, Which::All).await;
        for message in &delivery.sent {
            println!(
                "  mail: {} sent to {}",
                message.message_id,
                message.recipients.join(", ")
            );
        }
        for (message, error) in delivery.failed {
            problems.push(Diagnostic::in_file(
                ".warroom/outbox",
                format!("report {}", message.report),
                format!("{error} (the message stays in the outbox and is retried on the next run)"),
            ));
        }
        problems.extend(delivery.problems);
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

/// Prints a report's summary line and its alerts.
fn print_done(id: &str, done: &ReportDone) {
    let results = &done.results;
    println!(
        "{id}: {} as of {}, {} KPIs, {} queries, {:.0?} → {}",
        results.period.label,
        results.as_of,
        results.kpis.len(),
        done.queries,
        done.elapsed,
        done.written.display()
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
    if let Mailed::DryRun(path) = &done.mailed {
        println!("  mail: {} (dry run)", path.display());
    }
}

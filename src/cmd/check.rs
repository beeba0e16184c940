//! `warroom check`: every definition validated and every SQL text planned
//! against the sources' schemas, without running a report.

use std::process::ExitCode;

use chrono::{NaiveDate, Utc};
use datafusion::execution::session_state::SessionState;

use super::{exit_code, print_problems, start_engine};
use crate::cli::ProjectArgs;
use crate::config::diagnostic::{Diagnostic, Diagnostics};
use crate::config::load_project;
use crate::config::model::{Project, Report};
use crate::engine::check::check_report;
use crate::engine::funnels::{overflow_warning, overflowing_stages};
use crate::engine::params::Params;
use crate::engine::queries::QueryCounter;
use crate::engine::sources::clean_message;
use crate::engine::tables::{ReportTables, SharedSources, without_shared_source_notes};
use crate::period::Period;
use crate::render::Renderer;

/// Runs `warroom check`.
pub async fn check(args: &ProjectArgs) -> ExitCode {
    let mut diags = Diagnostics::default();
    let project = load_project(&args.project, &mut diags);
    let mut problems: Vec<Diagnostic> = diags.into_vec();
    let Some((state, shared)) = start_engine(&project, &mut problems).await else {
        print_problems(&problems);
        return exit_code(&problems);
    };
    let today = Utc::now().date_naive();
    let renderer = Renderer::new(&args.project);
    let mut kpis = 0;
    for report in project.reports.values() {
        kpis += report.kpis.len();
        problems.extend(renderer.check(report));
        problems.extend(report_problems(&state, &project, &shared, report, today).await);
    }
    print_problems(&problems);
    if !problems.iter().any(Diagnostic::is_error) {
        println!("checked {} reports, {kpis} KPIs: no problems", project.reports.len());
    }
    exit_code(&problems)
}

/// Every problem of one report's SQL beyond what loading found: its views
/// and its SQL planned against the sources' schemas (and funnels whose
/// step rates can exceed 1 on the data, as warnings).
pub async fn report_problems(
    state: &SessionState,
    project: &Project,
    shared: &SharedSources,
    report: &Report,
    today: NaiveDate,
) -> Vec<Diagnostic> {
    let mut problems = Vec::new();
    match ReportTables::new(state, project, shared, report).await {
        Ok(mut tables) => {
            // Views with placeholders plan with today's dates bound.
            let params = Params::for_period(Period::containing(report.grain, today), today);
            tables.register_views(Some(&params), &mut problems).await;
            let report_problems = check_report(&tables, report).await;
            if report_problems.is_empty() {
                // Only a funnel that plans can be run to see whether a
                // step rate can exceed 1 on the data.
                for funnel in report.funnels.values() {
                    match overflowing_stages(&tables, funnel, &QueryCounter::default()).await {
                        Ok(stages) => {
                            problems.extend(stages.iter().filter_map(|stage| overflow_warning(funnel, stage)))
                        }
                        Err(e) => problems.push(Diagnostic::at(
                            &funnel.count.location,
                            format!("funnels.{}", funnel.id),
                            clean_message(&e.error),
                        )),
                    }
                }
            }
            problems.extend(report_problems);
        }
        // A shared source that failed to load is reported once, by the caller.
        Err(report_problems) => problems.extend(without_shared_source_notes(report_problems)),
    }
    problems
}

//! One report's pass, shared by `run` and `watch`: evaluate, move the alert
//! states, render, swap the outputs in, and queue its mail by policy.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use datafusion::execution::session_state::SessionState;

use crate::alerts::state::{self as alert_state, AlertEntry};
use crate::config::diagnostic::Diagnostic;
use crate::config::model::{EmailConfig, OutputFormat, Project, Report};
use crate::deliver::compose::compose;
use crate::deliver::fingerprint::fingerprint;
use crate::deliver::outbox;
use crate::deliver::policy;
use crate::engine::report::evaluate_report;
use crate::engine::tables::SharedSources;
use crate::output::write_report_outputs;
use crate::render::context::render_context;
use crate::render::{Renderer, extension};
use crate::results::Results;

/// What to do with a report's mail.
#[derive(Debug, Clone, PartialEq)]
pub enum MailMode {
    /// Nothing (no `--send`).
    Off,
    /// Queue it in `.warroom/outbox/` when the policy says so.
    Queue,
    /// Write it as `<dir>/<report>.eml` when the policy says so.
    DryRun(PathBuf),
}

/// The settings of one pass over the reports.
pub struct Pass<'a> {
    /// The engine state the reports' contexts are made from.
    pub state: &'a SessionState,
    /// The checked definitions.
    pub project: &'a Project,
    /// The shared sources, loaded once for the pass.
    pub shared: &'a SharedSources,
    /// Templates.
    pub renderer: &'a Renderer,
    /// `--as-of`.
    pub as_of: Option<NaiveDate>,
    /// Today, which caps a data-derived as-of date.
    pub today: NaiveDate,
    /// Where `<report>/` folders go.
    pub out_dir: &'a Path,
    /// `--format`, overriding each report's formats.
    pub formats: Option<Vec<OutputFormat>>,
    /// Mail handling.
    pub mail: MailMode,
    /// The envelope and header sender.
    pub sender: Option<String>,
}

/// What became of a mail after its report ran.
#[derive(Debug, Clone, PartialEq)]
pub enum Mailed {
    /// The policy did not call for one (or mail is off).
    No,
    /// Queued in the outbox.
    Queued,
    /// Written as this .eml file.
    DryRun(PathBuf),
}

/// A report that ran through.
pub struct ReportDone {
    /// What was computed, with alert states.
    pub results: Results,
    /// Queries executed.
    pub queries: usize,
    /// Wall time of the report.
    pub elapsed: Duration,
    /// The folder its outputs were swapped into.
    pub written: PathBuf,
    /// Its mail.
    pub mailed: Mailed,
    /// Warnings (not errors) found while evaluating it.
    pub warnings: Vec<Diagnostic>,
}

impl ReportDone {
    /// The alerts that fire now (new or ongoing).
    pub fn firing(&self) -> impl Iterator<Item = &AlertEntry> {
        self.results
            .alerts
            .iter()
            .filter(|a| a.state != alert_state::State::Resolved)
    }
}

impl Pass<'_> {
    /// Runs one report through; its problems when it cannot.
    pub async fn report(&self, report: &Report) -> Result<ReportDone, Vec<Diagnostic>> {
        let started = Instant::now();
        let root = &self.project.root;
        let mut evaluation =
            evaluate_report(self.state, self.project, self.shared, report, self.as_of, self.today).await?;
        let problem = |path: &Path, message: String| {
            vec![Diagnostic::in_file(
                path.display().to_string(),
                format!("report {}", report.id),
                message,
            )]
        };
        let store_path = alert_state::store_path(root, &report.id);
        let store = alert_state::load(&store_path)
            .map_err(|e| problem(&store_path, format!("cannot read alert states: {e}")))?;
        let (entries, next_store) = alert_state::transition(&store, &evaluation.alerts, evaluation.results.as_of);
        evaluation.results.alerts = entries;
        let mut files = vec![(
            "results.json".to_string(),
            serde_json::to_vec_pretty(&evaluation.results).expect("results serialize"),
        )];
        let context = render_context(&evaluation.results);
        let formats = self.formats.as_ref().unwrap_or(&report.formats);
        for &format in formats {
            let text = self.renderer.render(report, format, &context).map_err(|e| vec![e])?;
            files.push((format!("report.{}", extension(format)), text.into_bytes()));
        }
        let written = write_report_outputs(self.out_dir, &report.id, &files)
            .map_err(|e| problem(&self.out_dir.join(&report.id), format!("cannot write outputs: {e}")))?;
        if let Some(next) = next_store {
            alert_state::save(&store_path, &next)
                .map_err(|e| problem(&store_path, format!("cannot write alert states: {e}")))?;
        }
        let mailed = match &report.email {
            Some(email) if self.mail != MailMode::Off => self.mail(report, email, &evaluation.results, &context)?,
            _ => Mailed::No,
        };
        Ok(ReportDone {
            results: evaluation.results,
            queries: evaluation.queries,
            elapsed: started.elapsed(),
            written,
            mailed,
            warnings: evaluation.warnings,
        })
    }

    /// Queues the report's mail (or writes it as .eml on a dry run) when
    /// its send policy says so.
    fn mail(
        &self,
        report: &Report,
        email: &EmailConfig,
        results: &Results,
        context: &serde_json::Value,
    ) -> Result<Mailed, Vec<Diagnostic>> {
        let root = &self.project.root;
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
            return Ok(Mailed::No);
        }
        let from = self.sender.as_deref().unwrap_or("warroom <warroom@localhost>");
        let queued =
            compose(self.renderer, report, email, results, context, &fingerprint, from).map_err(|e| vec![e])?;
        match &self.mail {
            MailMode::DryRun(dir) => {
                let path = dir.join(format!("{}.eml", report.id));
                crate::state::write_atomic(&path, queued.message.as_bytes())
                    .map_err(|e| problem(format!("cannot write {}: {e}", path.display())))?;
                Ok(Mailed::DryRun(path))
            }
            _ => {
                outbox::enqueue(root, queued).map_err(|e| problem(format!("cannot queue the mail: {e}")))?;
                Ok(Mailed::Queued)
            }
        }
    }
}

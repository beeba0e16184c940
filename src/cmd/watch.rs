//! `warroom watch`: run once, then re-run the reports whose data or
//! definitions change, until SIGINT or SIGTERM (the run in flight finishes
//! first). A failed run is logged and the watcher keeps going.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures::future::join_all;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};
use tracing::{error, info, warn};

use super::check::report_problems;
use super::{EXIT_ERROR, EXIT_USAGE, check_selected, formats, print_problems, start_engine};
use crate::cli::WatchArgs;
use crate::config::diagnostic::{Diagnostic, Diagnostics};
use crate::config::load_project;
use crate::config::model::Project;
use crate::deliver::dispatch::{Delivery, Which, deliver, next_due};
use crate::deliver::smtp::{self, Connection};
use crate::engine::tables::without_shared_source_notes;
use crate::lock::ProjectLock;
use crate::pipeline::{MailMode, Mailed, Pass};
use crate::render::Renderer;
use crate::watch::landing::Landing;
use crate::watch::routes::{reports_defined_by, reports_reading, source_folders};
use crate::watch::schedule::{Schedule, Work};
use crate::watch::watcher::{Change, Layout, Watcher};

/// How often the loop looks at settling files and due work.
const TICK: Duration = Duration::from_millis(100);
/// How often it looks for outbox messages whose retry is due.
const OUTBOX_CHECK: Duration = Duration::from_secs(1);

/// Runs `warroom watch`.
pub async fn watch(args: &WatchArgs) -> ExitCode {
    let root = match std::fs::canonicalize(&args.project.project) {
        Ok(root) => root,
        Err(e) => {
            eprintln!("error: {}: {e}", args.project.project.display());
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let mut diags = Diagnostics::default();
    let project = load_project(&root, &mut diags);
    if let Err(code) = check_selected(&root, &project, &args.reports) {
        return code;
    }
    // A watcher starts from definitions that load; data problems come later
    // and are logged by the runs.
    if diags.has_errors() {
        print_problems(&diags.into_vec());
        return ExitCode::from(EXIT_ERROR);
    }
    let _watching = match ProjectLock::try_watch(&root) {
        Ok(Some(lock)) => lock,
        Ok(None) => {
            eprintln!("error: another `warroom watch` is already watching {}", root.display());
            return ExitCode::from(EXIT_ERROR);
        }
        Err(e) => {
            eprintln!("error: {}: {e}", root.join(".warroom/watch.lock").display());
            return ExitCode::from(EXIT_ERROR);
        }
    };
    let connection = if args.send {
        match smtp::connection(project.smtp.as_ref()) {
            Ok(c) => Some(c),
            Err(e) => {
                print_problems(&[Diagnostic::in_file("warroom.toml", "smtp", e)]);
                return ExitCode::from(EXIT_ERROR);
            }
        }
    } else {
        None
    };
    let out_dir = match &args.out {
        Some(dir) if dir.is_relative() => std::env::current_dir().unwrap_or_default().join(dir),
        Some(dir) => dir.clone(),
        None => root.join("out"),
    };
    let mut watching = Watching {
        args,
        root,
        out_dir,
        connection,
        project: Arc::new(project),
        changes: unbounded_channel().1,
        watcher: None,
        landing: Landing::new(Duration::ZERO, &[]),
        schedule: Schedule::new(Duration::ZERO, Duration::ZERO),
        outbox_checked: Instant::now(),
    };
    // From here on SIGINT and SIGTERM stop the watcher between runs.
    let (mut interrupt, mut terminate) = match (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) {
        (Ok(i), Ok(t)) => (i, t),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: cannot handle signals: {e}");
            return ExitCode::from(EXIT_ERROR);
        }
    };
    if let Err(e) = watching.start_watcher() {
        eprintln!("error: cannot watch the project: {e}");
        return ExitCode::from(EXIT_ERROR);
    }
    // The first run brings every report up to date with what landed while
    // nobody watched (and mails by policy, so nothing sent is sent again).
    let all = watching.project.reports.keys().cloned().collect();
    watching.run(all).await;
    loop {
        tokio::select! {
            change = watching.changes.recv() => match change {
                Some(change) => watching.note(change),
                None => {
                    error!("the file watcher stopped");
                    return ExitCode::from(EXIT_ERROR);
                }
            },
            _ = tokio::time::sleep(TICK) => {}
            _ = interrupt.recv() => break,
            _ = terminate.recv() => break,
        }
        watching.tick().await;
    }
    info!("stopped");
    ExitCode::SUCCESS
}

/// The watcher's state between runs.
struct Watching<'a> {
    /// The command line.
    args: &'a WatchArgs,
    /// The project folder, canonical, as watch events name it.
    root: PathBuf,
    /// Where outputs go (its changes are ignored).
    out_dir: PathBuf,
    /// The mail server, with `--send`.
    connection: Option<Connection>,
    /// The last definitions that loaded and planned.
    project: Arc<Project>,
    /// What the watcher sends.
    changes: UnboundedReceiver<Change>,
    /// Held so it keeps watching: dropping it stops it.
    watcher: Option<Watcher>,
    /// Which written files have landed.
    landing: Landing,
    /// When landed changes run.
    schedule: Schedule,
    /// When the outbox was last looked at.
    outbox_checked: Instant,
}

impl Watching<'_> {
    /// The paths that mean data, definitions, or our own writes.
    fn layout(&self) -> Layout {
        let data = match &self.project.watch.paths {
            Some(paths) => paths.iter().map(|p| self.root.join(p)).collect(),
            None => source_folders(&self.project),
        };
        Layout {
            root: self.root.clone(),
            data,
            ignored: vec![self.root.join(".warroom"), self.out_dir.clone()],
        }
    }

    /// (Re)starts the file watcher and landing detection for the current
    /// definitions; changes pending under the old ones are kept.
    fn start_watcher(&mut self) -> notify::Result<()> {
        let mut layout = self.layout();
        layout.data.retain(|folder| {
            let exists = folder.exists();
            if !exists {
                warn!("{} does not exist (yet): not watched", relative(&self.root, folder));
            }
            exists
        });
        let config = &self.project.watch;
        let (tx, rx) = unbounded_channel();
        let poll = self.args.poll.then_some(config.debounce / 2);
        self.watcher = Some(Watcher::start(layout.clone(), poll, tx)?);
        self.changes = rx;
        self.landing = Landing::new(config.debounce, &layout.data);
        self.schedule.set_windows(config.debounce, config.max_wait);
        let folders: Vec<String> = layout.data.iter().map(|p| relative(&self.root, p)).collect();
        info!(
            folders = %folders.join(", "),
            debounce_ms = config.debounce.as_millis() as u64,
            max_wait_ms = config.max_wait.as_millis() as u64,
            poll = self.args.poll,
            "watching"
        );
        Ok(())
    }

    /// Takes in one change from the watcher.
    fn note(&mut self, change: Change) {
        let now = Instant::now();
        match change {
            Change::Data(path, seen) => {
                self.schedule.event(now);
                self.landing.seen(&path, seen, now);
            }
            Change::Definition(path) => self.schedule.definition(path, now),
            Change::Rescan(folder) => {
                self.schedule.event(now);
                self.landing.rescan(&folder, now);
            }
            Change::Trouble(message) => {
                // Events may have been lost: compare every folder.
                warn!("file watcher: {message}; rescanning");
                self.schedule.event(now);
                for folder in self.layout().data {
                    self.landing.rescan(&folder, now);
                }
            }
        }
    }

    /// Moves landed files into the schedule, runs what is due, and retries
    /// the outbox when a message is due.
    async fn tick(&mut self) {
        let now = Instant::now();
        for path in self.landing.settled(now) {
            self.schedule.data(path, now);
        }
        if let Some(work) = self.schedule.due(now, self.landing.unsettled()) {
            let reports = self.reports_for(&work).await;
            if reports.is_empty() {
                if !work.data.is_empty() {
                    info!(changed = %self.describe(&work), "no report reads the changed files");
                }
            } else {
                info!(changed = %self.describe(&work), "change landed");
                self.run(reports).await;
            }
        }
        if now.duration_since(self.outbox_checked) < OUTBOX_CHECK {
            return;
        }
        self.outbox_checked = now;
        if let Some(connection) = &self.connection
            && next_due(&self.root).is_some_and(|due| due <= Utc::now())
        {
            let root = self.root.clone();
            match tokio::task::block_in_place(|| ProjectLock::acquire(&root, || {})) {
                Ok(_lock) => log_delivery(&deliver(&root, connection, Which::Due).await),
                Err(e) => error!("{}: {e}", root.join(".warroom/lock").display()),
            }
        }
    }

    /// The reports a batch of changes concerns, reloading the definitions
    /// first when they changed.
    async fn reports_for(&mut self, work: &Work) -> BTreeSet<String> {
        let mut reports = BTreeSet::new();
        if !work.definitions.is_empty() && self.reload().await {
            reports.extend(reports_defined_by(&self.project, &work.definitions));
        }
        reports.extend(reports_reading(&self.project, &work.data));
        reports
    }

    /// Loads and validates the definitions again; keeps the last good ones
    /// (and logs why) when they have a problem. True when they were replaced.
    async fn reload(&mut self) -> bool {
        let mut diags = Diagnostics::default();
        let project = load_project(&self.root, &mut diags);
        let mut problems = diags.into_vec();
        let renderer = Renderer::new(&self.root);
        problems.extend(project.reports.values().flat_map(|r| renderer.check(r)));
        // SQL that no longer plans is a definition problem too; a data file
        // that fails to load is not (that run fails and is logged).
        let mut engine_problems = Vec::new();
        if let Some((state, shared)) = start_engine(&project, &mut engine_problems).await {
            let today = Utc::now().date_naive();
            for report in project.reports.values().filter(|r| !r.broken) {
                let planned = report_problems(&state, &project, &shared, report, today).await;
                problems.extend(planned.into_iter().filter(|p| p.location.is_some()));
            }
        } else {
            problems.extend(engine_problems);
        }
        let errors: Vec<&Diagnostic> = problems.iter().filter(|p| p.is_error()).collect();
        if !errors.is_empty() {
            for problem in errors {
                error!("{problem}");
            }
            warn!("definitions not reloaded: keeping the last good ones until the problems above are fixed");
            return false;
        }
        let folders_before = self.layout().data;
        let watch_before = self.project.watch.clone();
        self.project = Arc::new(project);
        info!(reports = self.project.reports.len(), "definitions reloaded");
        if (self.layout().data != folders_before || self.project.watch != watch_before)
            && let Err(e) = self.start_watcher()
        {
            error!("cannot watch the new folders: {e}");
        }
        true
    }

    /// Runs `reports` (those selected on the command line and not broken)
    /// with a fresh engine, so files that landed are listed anew; logs one
    /// line for the run and each problem.
    async fn run(&mut self, reports: BTreeSet<String>) {
        let started = Instant::now();
        let project = Arc::clone(&self.project);
        let selected: Vec<_> = project
            .reports
            .values()
            .filter(|r| reports.contains(&r.id))
            .filter(|r| self.args.reports.is_empty() || self.args.reports.contains(&r.id))
            .filter(|r| !r.broken)
            .collect();
        if selected.is_empty() {
            return;
        }
        let root = self.root.clone();
        let _lock = match tokio::task::block_in_place(|| {
            ProjectLock::acquire(&root, || info!("waiting for a `warroom run` on this project to finish"))
        }) {
            Ok(lock) => lock,
            Err(e) => {
                error!("{}: {e}", root.join(".warroom/lock").display());
                return;
            }
        };
        let mut problems = Vec::new();
        let Some((state, shared)) = start_engine(&project, &mut problems).await else {
            log_problems(&problems);
            return;
        };
        let renderer = Renderer::new(&root);
        let pass = Pass {
            state: &state,
            project: &project,
            shared: &shared,
            renderer: &renderer,
            as_of: None,
            today: Utc::now().date_naive(),
            out_dir: &self.out_dir,
            formats: self.args.format.as_deref().map(formats),
            mail: if self.connection.is_some() {
                MailMode::Queue
            } else {
                MailMode::Off
            },
            sender: smtp::sender(self.connection.as_ref(), project.smtp.as_ref()),
        };
        let (mut failed, mut firing, mut new, mut queued) = (Vec::new(), 0, 0, 0);
        for (report, result) in selected
            .iter()
            .zip(join_all(selected.iter().map(|r| pass.report(r))).await)
        {
            match result {
                Ok(done) => {
                    firing += done.firing().count();
                    new += done
                        .firing()
                        .filter(|a| a.state == crate::alerts::state::State::New)
                        .count();
                    queued += usize::from(done.mailed == Mailed::Queued);
                    problems.extend(done.warnings);
                }
                Err(report_problems) => {
                    failed.push(report.id.as_str());
                    problems.extend(without_shared_source_notes(report_problems));
                }
            }
        }
        let delivery = match &self.connection {
            Some(connection) => deliver(&root, connection, Which::Due).await,
            None => Delivery::default(),
        };
        log_problems(&problems);
        let mail = if self.connection.is_none() {
            "off".to_string()
        } else {
            format!(
                "{queued} queued, {} sent, {} failed",
                delivery.sent.len(),
                delivery.failed.len()
            )
        };
        let names: Vec<&str> = selected.iter().map(|r| r.id.as_str()).collect();
        let line = format!(
            "ran {} in {:.2}s: {firing} alerts firing ({new} new), mail {mail}",
            names.join(", "),
            started.elapsed().as_secs_f64(),
        );
        if failed.is_empty() {
            info!("{line}");
        } else {
            error!("{line}; failed: {}", failed.join(", "));
        }
        log_delivery(&delivery);
    }

    /// The changed paths, relative to the project, for a log line.
    fn describe(&self, work: &Work) -> String {
        let relative = |p: &PathBuf| relative(&self.root, p);
        let mut names: Vec<String> = work.data.iter().chain(&work.definitions).map(relative).collect();
        if names.len() > 5 {
            let more = names.len() - 4;
            names.truncate(4);
            names.push(format!("and {more} more"));
        }
        names.join(", ")
    }
}

fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root).unwrap_or(path).display().to_string()
}

/// Logs each problem (errors as errors, warnings as warnings).
fn log_problems(problems: &[Diagnostic]) {
    for problem in problems {
        if problem.is_error() {
            error!("{problem}");
        } else {
            warn!("{problem}");
        }
    }
}

/// Logs what was sent and what stays queued.
fn log_delivery(delivery: &Delivery) {
    for message in &delivery.sent {
        info!(report = %message.report, "mail {} sent to {}", message.message_id, message.recipients.join(", "));
    }
    for (message, error) in &delivery.failed {
        warn!(
            report = %message.report,
            attempts = message.attempts + 1,
            "mail not sent: {error}; it stays in the outbox and is retried later"
        );
    }
    log_problems(&delivery.problems);
}

//! The tables each report sees: shared sources (loaded once per run),
//! report-local sources, and views planned in dependency order.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use datafusion::catalog::TableProvider;
use datafusion::catalog::view::ViewTable;
use datafusion::execution::session_state::SessionState;
use datafusion::prelude::SessionContext;
use indexmap::IndexMap;

use super::params::{Params, param_values};
use super::plan_error::{Wrapped, plan_error};
use super::session::report_context;
use super::sources::{LoadedSource, load_source};
use super::sql;
use crate::config::diagnostic::Diagnostic;
use crate::config::model::{Project, Report, SqlText, TableDef, TableKind};

/// Shared sources of a run, each loaded once, or the problems loading it.
pub struct SharedSources {
    loaded: HashMap<String, Result<LoadedSource, Vec<Diagnostic>>>,
}

impl SharedSources {
    /// Loads every source of `warroom.toml`, concurrently.
    pub async fn load(state: &SessionState, project: &Project) -> Self {
        let jobs = project.tables.values().filter_map(|table| match &table.kind {
            TableKind::Source(def) => {
                Some(async move { (table.id.clone(), load_source(state, &project.root, table, def).await) })
            }
            TableKind::View(_) => None,
        });
        Self {
            loaded: futures::future::join_all(jobs).await.into_iter().collect(),
        }
    }

    /// Every problem found loading shared sources.
    pub fn problems(&self) -> Vec<Diagnostic> {
        self.loaded
            .values()
            .filter_map(|r| r.as_ref().err())
            .flatten()
            .cloned()
            .collect()
    }
}

/// Drops the notes that a report cannot use a shared source that failed to
/// load: the source's own problem is reported once for the whole run.
pub fn without_shared_source_notes(problems: Vec<Diagnostic>) -> impl Iterator<Item = Diagnostic> {
    problems
        .into_iter()
        .filter(|p| !p.message.starts_with(SHARED_SOURCE_NOTE))
}

const SHARED_SOURCE_NOTE: &str = "shared source `";

/// A report's SessionContext with every table it can read registered.
pub struct ReportTables {
    /// Queries run here.
    pub ctx: SessionContext,
    /// Every source the report can read, by id.
    pub sources: HashMap<String, LoadedSource>,
    /// For each table id, the source ids it reads (itself for a source).
    pub reads: HashMap<String, BTreeSet<String>>,
    views: IndexMap<String, SqlText>,
}

impl ReportTables {
    /// Registers the report's sources and the views that need no placeholder
    /// values. Problems with any of them are returned all together.
    pub async fn new(
        state: &SessionState,
        project: &Project,
        shared: &SharedSources,
        report: &Report,
    ) -> Result<Self, Vec<Diagnostic>> {
        let ctx = report_context(state);
        let mut problems = Vec::new();
        let mut sources = HashMap::new();
        let all: Vec<&TableDef> = project.tables.values().chain(report.tables.values()).collect();
        let local_jobs = report.tables.values().filter_map(|table| match &table.kind {
            TableKind::Source(def) => Some(load_source(state, &project.root, table, def)),
            TableKind::View(_) => None,
        });
        let mut loaded: Vec<LoadedSource> = Vec::new();
        for result in futures::future::join_all(local_jobs).await {
            match result {
                Ok(source) => loaded.push(source),
                Err(p) => problems.extend(p),
            }
        }
        for (id, result) in &shared.loaded {
            if let Ok(source) = result {
                loaded.push(source.clone());
            } else {
                // Reported once by the run; the report cannot use this table.
                problems.push(Diagnostic::in_file(
                    report.location.file.path.clone(),
                    format!("report {}", report.id),
                    format!("{SHARED_SOURCE_NOTE}{id}` could not be loaded"),
                ));
            }
        }
        for source in loaded {
            ctx.register_table(source.id.as_str(), Arc::clone(&source.provider))
                .map_err(|e| {
                    vec![Diagnostic::in_file(
                        report.location.file.path.clone(),
                        &source.object,
                        e.to_string(),
                    )]
                })?;
            sources.insert(source.id.clone(), source);
        }
        let mut views = IndexMap::new();
        for table in &all {
            if let TableKind::View(sql) = &table.kind {
                views.insert(table.id.clone(), sql.clone());
            }
        }
        let reads = resolve_reads(&all, &mut problems);
        let mut tables = Self {
            ctx,
            sources,
            reads,
            views,
        };
        tables.register_views(None, &mut problems).await;
        if problems.is_empty() { Ok(tables) } else { Err(problems) }
    }

    /// Registers the views that use placeholders, bound to `params`
    /// (once the report's period is known); with `None`, registers the rest.
    pub async fn register_views(&mut self, params: Option<&Params>, problems: &mut Vec<Diagnostic>) {
        let order = view_order(&self.views);
        for id in order {
            let sql = &self.views[&id];
            if self.ctx.table_exist(id.as_str()).unwrap_or(false) {
                continue;
            }
            // A view over a source that failed to load is not planned: that
            // source's problem is reported already.
            if self
                .reads
                .get(&id)
                .is_some_and(|reads| reads.iter().any(|s| !self.sources.contains_key(s)))
            {
                continue;
            }
            let query = match sql::parse_query(&sql.text) {
                Ok(q) => q,
                Err(e) => {
                    problems.push(e.diagnostic(sql));
                    continue;
                }
            };
            let needs_params = !sql::query_placeholders(&query).is_empty()
                || sql::query_relations(&query)
                    .iter()
                    .any(|r| self.views.contains_key(r) && !self.ctx.table_exist(r.as_str()).unwrap_or(false));
            if needs_params && params.is_none() {
                continue;
            }
            let wrapped = Wrapped::new("", &sql.text, "");
            let state = self.ctx.state();
            let plan = match state.create_logical_plan(&wrapped.sql).await {
                Ok(plan) => plan,
                Err(e) => {
                    problems.push(plan_error(&e, sql, &wrapped, None));
                    continue;
                }
            };
            let plan = match params {
                Some(p) if needs_params => {
                    let mut values = HashMap::new();
                    p.insert_into(&mut values, "");
                    match plan.with_param_values(param_values(values)) {
                        Ok(plan) => plan,
                        Err(e) => {
                            problems.push(plan_error(&e, sql, &wrapped, None));
                            continue;
                        }
                    }
                }
                _ => plan,
            };
            let view: Arc<dyn TableProvider> = Arc::new(ViewTable::new(plan, Some(sql.text.clone())));
            if let Err(e) = self.ctx.register_table(id.as_str(), view) {
                problems.push(Diagnostic::at(&sql.location, &sql.object, e.to_string()));
            }
        }
    }

    /// The sources `table` reads, directly or through views.
    pub fn sources_of(&self, table: &str) -> Vec<&LoadedSource> {
        self.reads
            .get(table)
            .into_iter()
            .flatten()
            .filter_map(|id| self.sources.get(id))
            .collect()
    }
}

/// Views ordered so that each comes after the views it reads.
fn view_order(views: &IndexMap<String, SqlText>) -> Vec<String> {
    let deps: HashMap<&str, BTreeSet<String>> = views
        .iter()
        .map(|(id, sql)| {
            let reads = sql::parse_query(&sql.text)
                .map(|q| sql::query_relations(&q))
                .unwrap_or_default();
            (id.as_str(), reads)
        })
        .collect();
    let mut order: Vec<String> = Vec::new();
    fn visit(id: &str, deps: &HashMap<&str, BTreeSet<String>>, order: &mut Vec<String>, active: &mut Vec<String>) {
        if order.iter().any(|o| o == id) || active.iter().any(|a| a == id) {
            return;
        }
        active.push(id.to_string());
        for dep in deps.get(id).into_iter().flatten() {
            if deps.contains_key(dep.as_str()) {
                visit(dep, deps, order, active);
            }
        }
        active.pop();
        order.push(id.to_string());
    }
    for id in views.keys() {
        visit(id, &deps, &mut order, &mut Vec::new());
    }
    order
}

/// Which sources each table reads, following views.
pub fn resolve_reads(tables: &[&TableDef], problems: &mut Vec<Diagnostic>) -> HashMap<String, BTreeSet<String>> {
    let by_id: HashMap<&str, &TableDef> = tables.iter().map(|t| (t.id.as_str(), *t)).collect();
    let mut reads = HashMap::new();
    for table in tables {
        let mut found = BTreeSet::new();
        let mut stack = vec![table.id.clone()];
        let mut seen = BTreeSet::new();
        while let Some(id) = stack.pop() {
            if !seen.insert(id.clone()) {
                if id == table.id
                    && let TableKind::View(sql) = &table.kind
                {
                    problems.push(Diagnostic::at(
                        &sql.location,
                        &sql.object,
                        "the view reads itself, directly or through other views",
                    ));
                }
                continue;
            }
            match by_id.get(id.as_str()).map(|t| &t.kind) {
                Some(TableKind::Source(_)) => {
                    found.insert(id);
                }
                Some(TableKind::View(sql)) => {
                    if let Ok(query) = sql::parse_query(&sql.text) {
                        stack.extend(sql::query_relations(&query));
                    }
                }
                None => {}
            }
        }
        reads.insert(table.id.clone(), found);
    }
    reads
}

//! Evaluating one report: choose `as_of`, lay out the periods, run the
//! fused queries, then compute every KPI field in Rust.

use std::collections::{BTreeSet, HashMap};

use chrono::NaiveDate;
use datafusion::execution::session_state::SessionState;
use indexmap::IndexMap;

use super::breakdowns::evaluate_breakdown;
use super::check::check_report;
use super::drivers::lmdi;
use super::fields::{FieldRules, PeriodValues, compute};
use super::funnels::{evaluate_funnel, overflow_warning};
use super::params::Params;
use super::queries::{QueryCounter, QueryError, QueryPlan, Series, SeriesKey, latest_dates, run_plan};
use super::sources::clean_message;
use super::sql;
use super::table_queries::evaluate_table;
use super::tables::{ReportTables, SharedSources};
use crate::alerts::evaluate::Outcome;
use crate::config::diagnostic::Diagnostic;
use crate::config::model::{Kpi, KpiDef, Project, Report, TargetDef};
use crate::config::validate::derived_order;
use crate::period::{Grain, Period, PeriodMode};
use crate::results::{Explain, KpiResult, Results, SCHEMA_VERSION, TrendPoint};

/// A report's results and what it cost.
#[derive(Debug)]
pub struct Evaluation {
    /// What goes into results.json (alerts are filled in by the caller,
    /// which knows their stored states).
    pub results: Results,
    /// Which alert instances fire, and which could not be decided.
    pub alerts: Outcome,
    /// Problems that do not stop the report (a funnel step that can exceed 1).
    pub warnings: Vec<Diagnostic>,
    /// Queries executed for this report.
    pub queries: usize,
}

/// The periods one grain needs.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    pub(crate) current: Period,
    pub(crate) trend: Vec<Period>,
    pub(crate) previous: Period,
    pub(crate) year_ago: Period,
}

impl Layout {
    fn new(grain: Grain, as_of: NaiveDate, mode: PeriodMode, history: u32) -> Self {
        let mut current = Period::containing(grain, as_of);
        if mode == PeriodMode::LastComplete {
            current = current.previous();
        }
        Self {
            current,
            trend: current.trailing(history),
            previous: current.previous(),
            year_ago: current.year_ago(),
        }
    }

    pub(crate) fn all(&self) -> Vec<Period> {
        let mut all: BTreeSet<Period> = self.trend.iter().copied().collect();
        all.insert(self.previous);
        all.insert(self.year_ago);
        all.into_iter().collect()
    }
}

/// Evaluates `report`; `as_of` from the command line wins over the report's.
pub async fn evaluate_report(
    state: &SessionState,
    project: &Project,
    shared: &SharedSources,
    report: &Report,
    as_of_override: Option<NaiveDate>,
    today: NaiveDate,
) -> Result<Evaluation, Vec<Diagnostic>> {
    let mut tables = ReportTables::new(state, project, shared, report).await?;
    let problems = check_report(&tables, report).await;
    if !problems.is_empty() {
        return Err(problems);
    }
    let counter = QueryCounter::default();
    let as_of = match as_of_override.or(report.as_of) {
        Some(date) => date,
        None => {
            let probes = as_of_probes(&tables, report);
            let latest = latest_dates(&tables, &probes, &counter)
                .await
                .map_err(|e| vec![query_problem(report, e)])?;
            // A source's problem shows up here first; name its file.
            latest.map_or(today, |d| d.min(today))
        }
    };

    let grains: BTreeSet<Grain> = report.kpis.values().map(|k| k.grain).chain([report.grain]).collect();
    let layouts: HashMap<Grain, Layout> = grains
        .iter()
        .map(|g| (*g, Layout::new(*g, as_of, report.period, report.history)))
        .collect();
    let params: HashMap<Grain, Params> = layouts
        .iter()
        .map(|(g, l)| (*g, Params::for_period(l.current, as_of)))
        .collect();
    let mut problems = Vec::new();
    tables.register_views(Some(&params[&report.grain]), &mut problems).await;
    if !problems.is_empty() {
        return Err(problems);
    }

    let mut plan = QueryPlan::default();
    for kpi in report.kpis.values() {
        let layout = &layouts[&kpi.grain];
        if let KpiDef::Measure(def) = &kpi.def {
            plan.add(SeriesKey::Kpi(kpi.id.clone()), def, kpi.grain, true, layout.all());
        }
        if let Some(TargetDef::Measure(def)) = &kpi.target {
            plan.add(
                SeriesKey::Target(kpi.id.clone()),
                def,
                kpi.grain,
                false,
                layout.trend.clone(),
            );
        }
    }
    let periods: HashMap<Grain, Vec<Period>> = layouts.iter().map(|(g, l)| (*g, l.all())).collect();
    let series: HashMap<SeriesKey, Series> =
        match run_plan(&tables, &plan, &periods, &params, as_of, &[], &counter).await {
            Ok(grouped) => grouped
                .into_iter()
                .map(|(k, rows)| (k, rows.into_values().next().unwrap_or_default()))
                .collect(),
            Err(e) => return Err(vec![locate_failure(state, &tables, report, e).await]),
        };

    let values = kpi_values(report, &layouts, &series, as_of);
    let mut kpis = IndexMap::new();
    for kpi in report.kpis.values() {
        let layout = &layouts[&kpi.grain];
        kpis.insert(kpi.id.clone(), kpi_result(kpi, report, layout, &values, &series, as_of));
    }
    let located = |e| async { locate_failure(state, &tables, report, e).await };
    let breakdown_jobs = report
        .breakdowns
        .values()
        .map(|b| evaluate_breakdown(&tables, report, b, &layouts, &params, as_of, &kpis, &counter));
    let funnel_period = layouts[&report.grain].current;
    let funnel_jobs = report
        .funnels
        .values()
        .map(|f| evaluate_funnel(&tables, f, funnel_period, as_of, &counter));
    let table_jobs = report
        .table_queries
        .values()
        .map(|t| evaluate_table(&tables, t, &params[&report.grain], &counter));
    let (breakdowns, funnels, table_results) = futures::future::join3(
        futures::future::try_join_all(breakdown_jobs),
        futures::future::try_join_all(funnel_jobs),
        futures::future::try_join_all(table_jobs),
    )
    .await;
    let breakdowns = match breakdowns {
        Ok(b) => b,
        Err(e) => return Err(vec![located(e).await]),
    };
    let funnels = match funnels {
        Ok(f) => f,
        Err(e) => return Err(vec![located(e).await]),
    };
    let table_results = match table_results {
        Ok(t) => t,
        Err(e) => return Err(vec![located(e).await]),
    };
    let mut warnings = Vec::new();
    for (funnel, result) in report.funnels.values().zip(&funnels) {
        warnings.extend(
            result
                .overflowing
                .iter()
                .filter_map(|stage| overflow_warning(funnel, stage)),
        );
    }

    let layout = &layouts[&report.grain];
    let results = Results {
        schema_version: SCHEMA_VERSION,
        report: report.id.clone(),
        title: report.title.clone(),
        description: report.description.clone(),
        as_of,
        period: layout.current.into(),
        previous_period: layout.previous.into(),
        kpis,
        breakdowns: report.breakdowns.keys().cloned().zip(breakdowns).collect(),
        funnels: report
            .funnels
            .keys()
            .cloned()
            .zip(funnels.into_iter().map(|f| f.json))
            .collect(),
        tables: report.table_queries.keys().cloned().zip(table_results).collect(),
        alerts: Vec::new(),
    };
    let alerts = crate::alerts::evaluate::evaluate(report, &results);
    Ok(Evaluation {
        results,
        alerts,
        warnings,
        queries: counter.get(),
    })
}

/// The (table, time column, filter) whose latest date sets `as_of`; a
/// filter that needs period placeholders is left out.
fn as_of_probes(tables: &ReportTables, report: &Report) -> Vec<(String, String, Option<String>)> {
    report
        .kpis
        .values()
        .filter_map(|kpi| match &kpi.def {
            KpiDef::Measure(def) => def.time.as_ref().map(|(time, _)| (def, time)),
            KpiDef::Derived(_) => None,
        })
        .filter(|(def, _)| tables.ctx.table_exist(def.table.as_str()).unwrap_or(false))
        .map(|(def, time)| {
            let filter = def
                .filter
                .as_ref()
                .filter(|f| sql::parse_expr(&f.text).is_ok_and(|e| sql::placeholders(&e).is_empty()))
                .map(|f| f.text.clone());
            (def.table.clone(), time.clone(), filter)
        })
        .collect()
}

/// Each KPI's value per period, and its projection, derived ones included.
pub(crate) struct KpiValues {
    pub(crate) by_period: HashMap<String, HashMap<Period, Option<f64>>>,
    pub(crate) projected: HashMap<String, Option<f64>>,
}

impl KpiValues {
    /// A KPI's value in a period.
    pub(crate) fn at(&self, id: &str, period: Period) -> Option<f64> {
        self.by_period.get(id).and_then(|m| m.get(&period).copied()).flatten()
    }
}

pub(crate) fn kpi_values(
    report: &Report,
    layouts: &HashMap<Grain, Layout>,
    series: &HashMap<SeriesKey, Series>,
    as_of: NaiveDate,
) -> KpiValues {
    let mut out = KpiValues {
        by_period: HashMap::new(),
        projected: HashMap::new(),
    };
    for kpi in report.kpis.values() {
        let KpiDef::Measure(def) = &kpi.def else { continue };
        let layout = &layouts[&kpi.grain];
        let found = series.get(&SeriesKey::Kpi(kpi.id.clone()));
        let by_period: HashMap<Period, Option<f64>> = layout
            .all()
            .into_iter()
            .map(|p| {
                let v = found.and_then(|s| s.get(&p.start).copied()).flatten();
                (p, if def.additive { Some(v.unwrap_or(0.0)) } else { v })
            })
            .collect();
        let pace = layout.current.pace(as_of);
        let value = by_period[&layout.current];
        let projected = if def.additive { value.map(|v| v / pace) } else { None };
        out.by_period.insert(kpi.id.clone(), by_period);
        out.projected.insert(kpi.id.clone(), projected);
    }
    for id in derived_order(report) {
        let kpi = &report.kpis[&id];
        let KpiDef::Derived(expr) = &kpi.def else { continue };
        let layout = &layouts[&kpi.grain];
        let by_period: HashMap<Period, Option<f64>> = layout
            .all()
            .into_iter()
            .map(|p| {
                (
                    p,
                    expr.eval(&|input| out.by_period.get(input).and_then(|m| m.get(&p).copied()).flatten()),
                )
            })
            .collect();
        let projected = expr.eval(&|input| out.projected.get(input).copied().flatten());
        out.by_period.insert(id.clone(), by_period);
        out.projected.insert(id, projected);
    }
    out
}

pub(crate) fn target_at(kpi: &Kpi, series: &HashMap<SeriesKey, Series>, period: Period) -> Option<f64> {
    match &kpi.target {
        None => None,
        Some(TargetDef::Fixed(n)) => Some(*n),
        Some(TargetDef::Measure(_)) => series
            .get(&SeriesKey::Target(kpi.id.clone()))
            .and_then(|s| s.get(&period.start).copied())
            .flatten(),
    }
}

fn kpi_result(
    kpi: &Kpi,
    report: &Report,
    layout: &Layout,
    values: &KpiValues,
    series: &HashMap<SeriesKey, Series>,
    as_of: NaiveDate,
) -> KpiResult {
    let at = |id: &str, p: Period| values.at(id, p);
    let trend_values: Vec<Option<f64>> = layout.trend.iter().map(|p| at(&kpi.id, *p)).collect();
    let target = target_at(kpi, series, layout.current);
    let additive = matches!(&kpi.def, KpiDef::Measure(def) if def.additive);
    let pace = layout.current.pace(as_of);
    let fields = compute(
        &PeriodValues {
            trend: &layout.trend,
            values: &trend_values,
            previous: at(&kpi.id, layout.previous),
            year_ago: at(&kpi.id, layout.year_ago),
            target,
            projected: values.projected.get(&kpi.id).copied().flatten(),
            pace,
        },
        &FieldRules {
            better: kpi.better,
            warn_at: kpi.warn_at,
            additive,
        },
    );
    let explain = (!kpi.drivers.is_empty()).then(|| {
        let current = layout.current;
        let vs_previous: Vec<_> = kpi
            .drivers
            .iter()
            .map(|d| (d.clone(), at(d, layout.previous), at(d, current)))
            .collect();
        let driver_targets: Vec<Option<f64>> = kpi
            .drivers
            .iter()
            .map(|d| report.kpis.get(d).and_then(|k| target_at(k, series, current)))
            .collect();
        let target_base = driver_targets
            .iter()
            .copied()
            .try_fold(1.0, |acc, t| t.map(|t| acc * t));
        let vs_target = match target_base {
            Some(base) => {
                let drivers: Vec<_> = kpi
                    .drivers
                    .iter()
                    .zip(&driver_targets)
                    .map(|(d, t)| (d.clone(), *t, at(d, current)))
                    .collect();
                lmdi(fields.value, Some(base), &drivers)
            }
            None => Vec::new(),
        };
        let product = kpi
            .drivers
            .iter()
            .map(|d| at(d, current))
            .try_fold(1.0, |acc, v| v.map(|v| acc * v));
        Explain {
            vs_previous: lmdi(fields.value, fields.previous, &vs_previous),
            vs_target,
            target_base,
            target_gap: fields.value.zip(target).map(|(v, t)| v - t),
            residual: fields.value.zip(product).map(|(v, p)| v - p),
        }
    });
    KpiResult {
        label: kpi.label.clone(),
        format: kpi.format,
        unit: kpi.unit.clone(),
        decimals: kpi.decimals,
        better: kpi.better,
        period: layout.current.into(),
        fields,
        trend: layout
            .trend
            .iter()
            .zip(&trend_values)
            .map(|(p, v)| TrendPoint {
                period: p.label(),
                value: *v,
                target: target_at(kpi, series, *p),
            })
            .collect(),
        explain,
    }
}

fn query_problem(report: &Report, e: QueryError) -> Diagnostic {
    Diagnostic::in_file(
        report.location.file.path.clone(),
        format!("report {}", report.id),
        format!("query over `{}` failed: {}", e.table, clean_message(&e.error)),
    )
}

/// Names the data file behind a failed query when one of the table's files
/// cannot be read on its own.
async fn locate_failure(state: &SessionState, tables: &ReportTables, report: &Report, e: QueryError) -> Diagnostic {
    for source in tables.sources_of(&e.table) {
        if let Some(found) = source.find_bad_file(state).await {
            return found;
        }
    }
    query_problem(report, e)
}

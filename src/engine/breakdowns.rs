//! Breakdowns: a report's KPIs per value of some columns (per rep, per
//! product). The measures a breakdown needs are fused like the report's —
//! one grouped query per table, time column and grain — with `GROUP BY` on
//! the `by` columns; derived KPIs are then computed per row.

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap};

use chrono::NaiveDate;
use indexmap::IndexMap;
use serde_json::{Map, Value as Json, json};

use super::fields::{FieldRules, PeriodValues, compute};
use super::params::Params;
use super::queries::{QueryCounter, QueryError, QueryPlan, RowKey, Series, SeriesKey, run_plan};
use super::report::{Layout, kpi_values};
use super::tables::ReportTables;
use crate::config::model::{Breakdown, KpiDef, Report, SortKey};
use crate::period::{Grain, Period};
use crate::results::KpiResult;

/// Evaluates one breakdown into its results.json object.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn evaluate_breakdown(
    tables: &ReportTables,
    report: &Report,
    breakdown: &Breakdown,
    layouts: &HashMap<Grain, Layout>,
    params: &HashMap<Grain, Params>,
    as_of: NaiveDate,
    overall: &IndexMap<String, KpiResult>,
    counter: &QueryCounter,
) -> Result<Json, QueryError> {
    let grain = report.kpis[&breakdown.kpis[0]].grain;
    let layout = &layouts[&grain];
    let needed: Vec<Period> = if breakdown.trend {
        layout.all()
    } else {
        vec![layout.previous, layout.current]
    };
    let mut plan = QueryPlan::default();
    for id in measure_leaves(report, &breakdown.kpis) {
        if let KpiDef::Measure(def) = &report.kpis[&id].def {
            plan.add(SeriesKey::Kpi(id.clone()), def, grain, true, needed.clone());
        }
    }
    for (kpi, def) in &breakdown.targets {
        plan.add(SeriesKey::Target(kpi.clone()), def, grain, false, layout.trend.clone());
    }
    let periods = HashMap::from([(grain, needed.clone())]);
    let grouped = run_plan(tables, &plan, &periods, params, as_of, &breakdown.by, counter).await?;

    // Rows: every `by` value seen in the current or the previous period.
    let mut rows: BTreeSet<RowKey> = BTreeSet::new();
    for (key, by_row) in &grouped {
        if let SeriesKey::Kpi(_) = key {
            for (row, series) in by_row {
                if series.contains_key(&layout.current.start) || series.contains_key(&layout.previous.start) {
                    rows.insert(row.clone());
                }
            }
        }
    }
    let mut out_rows: Vec<(RowKey, Map<String, Json>)> = Vec::new();
    for row in rows {
        let series: HashMap<SeriesKey, Series> = grouped
            .iter()
            .map(|(key, by_row)| (key.clone(), by_row.get(&row).cloned().unwrap_or_default()))
            .collect();
        let values = kpi_values(report, layouts, &series, as_of);
        let mut object = Map::new();
        for (column, value) in breakdown.by.iter().zip(&row) {
            object.insert(column.clone(), value.clone().map_or(Json::Null, Json::String));
        }
        for id in &breakdown.kpis {
            let kpi = &report.kpis[id];
            let additive = matches!(&kpi.def, KpiDef::Measure(def) if def.additive);
            let trend: Vec<Option<f64>> = if breakdown.trend {
                layout.trend.iter().map(|p| values.at(id, *p)).collect()
            } else {
                vec![values.at(id, layout.current)]
            };
            let target_series = series.get(&SeriesKey::Target(id.clone()));
            let target_at = |p: Period| target_series.and_then(|s| s.get(&p.start).copied()).flatten();
            let fields = compute(
                &PeriodValues {
                    trend: if breakdown.trend {
                        &layout.trend
                    } else {
                        std::slice::from_ref(&layout.current)
                    },
                    values: &trend,
                    previous: values.at(id, layout.previous),
                    year_ago: None,
                    target: target_at(layout.current),
                    projected: values.projected.get(id).copied().flatten(),
                    pace: layout.current.pace(as_of),
                },
                &FieldRules {
                    better: kpi.better,
                    warn_at: kpi.warn_at,
                    additive,
                },
            );
            let total = overall.get(id).and_then(|r| r.fields.value);
            let share = match (additive, fields.value, total) {
                (true, Some(v), Some(t)) if t != 0.0 => Some(v / t),
                _ => None,
            };
            let mut cell = json!({
                "value": fields.value,
                "previous": fields.previous,
                "delta_pct": fields.delta_pct,
                "share": share,
                "target": fields.target,
                "attainment": fields.attainment,
                "status": fields.status,
            });
            if breakdown.trend {
                cell["zscore"] = json!(fields.zscore);
                cell["trend"] = Json::Array(
                    layout
                        .trend
                        .iter()
                        .zip(&trend)
                        .map(|(p, v)| json!({"period": p.label(), "value": v, "target": target_at(*p)}))
                        .collect(),
                );
            }
            object.insert(id.clone(), cell);
        }
        out_rows.push((row, object));
    }
    sort_rows(&mut out_rows, breakdown.sort.as_ref());
    if let Some(limit) = breakdown.limit {
        out_rows.truncate(limit);
    }
    let overall: Map<String, Json> = breakdown
        .kpis
        .iter()
        .filter_map(|id| {
            overall
                .get(id)
                .map(|r| (id.clone(), serde_json::to_value(r).expect("results serialize")))
        })
        .collect();
    Ok(json!({
        "title": breakdown.title,
        "by": breakdown.by,
        "overall": overall,
        "rows": out_rows.into_iter().map(|(_, o)| Json::Object(o)).collect::<Vec<_>>(),
    }))
}

/// The measure KPIs behind `kpis`, following derived inputs.
fn measure_leaves(report: &Report, kpis: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack: Vec<String> = kpis.to_vec();
    while let Some(id) = stack.pop() {
        if out.contains(&id) {
            continue;
        }
        match report.kpis.get(&id).map(|k| &k.def) {
            Some(KpiDef::Measure(_)) => out.push(id),
            Some(KpiDef::Derived(expr)) => {
                stack.extend(expr.inputs().into_iter().map(String::from));
                out.push(id);
            }
            None => {}
        }
    }
    out
}

/// Sorts by the key, nulls last, ties by the `by` values (NULL last);
/// without a key, by the `by` values.
fn sort_rows(rows: &mut [(RowKey, Map<String, Json>)], key: Option<&SortKey>) {
    rows.sort_by(|(a_key, a), (b_key, b)| {
        // NULL `by` values sort after the others.
        let by_values = a_key
            .iter()
            .zip(b_key)
            .map(|(x, y)| match (x, y) {
                (Some(x), Some(y)) => x.cmp(y),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            })
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal);
        let Some(key) = key else { return by_values };
        let get = |o: &Map<String, Json>| o.get(&key.kpi).and_then(|c| c.get(&key.field)).and_then(Json::as_f64);
        match (get(a), get(b)) {
            (Some(x), Some(y)) => {
                let order = x.partial_cmp(&y).unwrap_or(Ordering::Equal);
                let order = if key.descending { order.reverse() } else { order };
                order.then(by_values)
            }
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => by_values,
        }
    });
}

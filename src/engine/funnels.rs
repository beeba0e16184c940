//! Funnels: the current period's cohort (rows whose `time` falls in it),
//! each stage's filter applied to the cohort on its own, all stages in one
//! query. For each later stage the query also counts rows that pass it but
//! not the stage before, which is how a step rate can exceed 1.

use std::collections::HashMap;

use chrono::NaiveDate;
use serde_json::{Value as Json, json};

use super::check::{is_aggregate, quote};
use super::params::{Params, date_value};
use super::queries::{QueryCounter, QueryError, execute_query, read_f64};
use super::sql;
use super::tables::ReportTables;
use crate::config::model::Funnel;
use crate::period::Period;

/// A funnel's stages, and the stages that have rows the stage before lacks.
pub struct FunnelResult {
    /// The results.json object.
    pub json: Json,
    /// Ids of stages whose step rate can exceed 1 on this data.
    pub overflowing: Vec<String>,
}

/// Evaluates `funnel` over `period` at `as_of`.
pub async fn evaluate_funnel(
    tables: &ReportTables,
    funnel: &Funnel,
    period: Period,
    as_of: NaiveDate,
    counter: &QueryCounter,
) -> Result<FunnelResult, QueryError> {
    let state = tables.ctx.state();
    let is_agg = |name: &str| is_aggregate(&state, name);
    let with_filter = |aggregate: &str, filter: &sql::Expr| {
        let mut e = sql::parse_expr(aggregate).expect("validated");
        sql::push_filter(&mut e, filter, &is_agg);
        e.to_string()
    };
    let stage_filters = stage_filters(funnel);
    let mut columns = Vec::new();
    for (i, filter) in stage_filters.iter().enumerate() {
        columns.push(format!("{} AS \"n{i}\"", with_filter(&funnel.count.text, filter)));
        if let Some(value) = &funnel.value {
            columns.push(format!("{} AS \"v{i}\"", with_filter(&value.text, filter)));
        }
        if i > 0 {
            let outside = skipped_previous(&stage_filters, i);
            columns.push(format!("{} AS \"x{i}\"", with_filter("COUNT(*)", &outside)));
        }
    }
    let time = quote(&funnel.time.0);
    let text = format!(
        "SELECT {} FROM {} WHERE {time} >= $period_start AND {time} < $period_end",
        columns.join(", "),
        quote(&funnel.table)
    );
    let mut values = HashMap::new();
    Params::for_period(period, as_of).insert_into(&mut values, "");
    values.insert("as_of".into(), date_value(as_of));
    let batches = execute_query(tables, &funnel.table, &text, values, counter).await?;
    let batch = batches.iter().find(|b| b.num_rows() > 0);
    let cell = |name: &str| -> Result<Option<f64>, QueryError> {
        let Some(batch) = batch else { return Ok(None) };
        let index = batch.schema().index_of(name).map_err(|e| QueryError {
            table: funnel.table.clone(),
            error: e.into(),
        })?;
        read_f64(batch, index).map(|v| v[0]).map_err(|error| QueryError {
            table: funnel.table.clone(),
            error,
        })
    };
    let mut stages = Vec::new();
    let mut overflowing = Vec::new();
    let mut first: Option<f64> = None;
    let mut previous: Option<f64> = None;
    for (i, stage) in funnel.stages.iter().enumerate() {
        let count = cell(&format!("n{i}"))?.or(Some(0.0));
        let value = if funnel.value.is_some() {
            cell(&format!("v{i}"))?
        } else {
            None
        };
        if i > 0 && cell(&format!("x{i}"))?.unwrap_or(0.0) > 0.0 {
            overflowing.push(stage.id.clone());
        }
        let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) if b != 0.0 => Some(a / b),
            _ => None,
        };
        if i == 0 {
            first = count;
        }
        stages.push(json!({
            "id": stage.id,
            "label": stage.label,
            "count": count,
            "value": value,
            "step_rate": if i == 0 { None } else { ratio(count, previous) },
            "overall_rate": ratio(count, first),
        }));
        previous = count;
    }
    Ok(FunnelResult {
        json: json!({"title": funnel.title, "stages": stages}),
        overflowing,
    })
}

/// Stages with rows (anywhere in the data) that pass them but not the stage
/// before: their step rate can exceed 1. Used by `warroom check`.
pub async fn overflowing_stages(
    tables: &ReportTables,
    funnel: &Funnel,
    counter: &QueryCounter,
) -> Result<Vec<String>, QueryError> {
    if funnel.stages.len() < 2 {
        return Ok(Vec::new());
    }
    let filters = stage_filters(funnel);
    let columns: Vec<String> = (1..filters.len())
        .map(|i| format!("COUNT(*) FILTER (WHERE {}) AS \"x{i}\"", skipped_previous(&filters, i)))
        .collect();
    let text = format!("SELECT {} FROM {}", columns.join(", "), quote(&funnel.table));
    let batches = execute_query(tables, &funnel.table, &text, HashMap::new(), counter).await?;
    let mut out = Vec::new();
    if let Some(batch) = batches.iter().find(|b| b.num_rows() > 0) {
        for i in 0..batch.num_columns() {
            let n = read_f64(batch, i).map_err(|error| QueryError {
                table: funnel.table.clone(),
                error,
            })?[0];
            if n.unwrap_or(0.0) > 0.0 {
                out.push(funnel.stages[i + 1].id.clone());
            }
        }
    }
    Ok(out)
}

/// Each stage's filter, parenthesized.
fn stage_filters(funnel: &Funnel) -> Vec<sql::Expr> {
    funnel
        .stages
        .iter()
        .map(|s| sql::nested(sql::parse_expr(&s.filter.text).expect("validated")))
        .collect()
}

/// Rows in stage `i` but not in the stage before it.
fn skipped_previous(filters: &[sql::Expr], i: usize) -> sql::Expr {
    sql::and(filters[i].clone(), sql::not(filters[i - 1].clone()))
}

/// The warning for a stage whose step rate can exceed 1.
pub fn overflow_warning(funnel: &Funnel, stage: &str) -> Option<crate::config::diagnostic::Diagnostic> {
    let location = &funnel.stages.iter().find(|s| s.id == stage)?.filter.location;
    Some(
        crate::config::diagnostic::Diagnostic::at(
            location,
            format!("funnels.{}.stages.{stage}", funnel.id),
            "some rows reach this stage without the stage before, so its step rate can exceed 1",
        )
        .warning(),
    )
}

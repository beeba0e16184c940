//! Fused queries: how a report's KPIs become few scans.
//!
//! * **Flows** — measures with a time column. All measures over the same
//!   table, time column and grain become one query over the whole history
//!   window (the trend periods, the previous one and the year-ago one,
//!   merged into as few date ranges as possible), grouped by
//!   `date_trunc(grain, time)`. Each measure's filter is pushed into its own
//!   aggregates as `FILTER (WHERE …)` by rewriting the measure's syntax tree,
//!   so N KPIs on one table read it once. Targets from a table are flows too,
//!   but not cut off at `as_of`, so they form their own query.
//! * **Stocks** — measures that use `$period_start`/`$period_end`. All stock
//!   measures over one table become one ungrouped query with one column per
//!   measure and period; each column's placeholders are renamed to that
//!   period's (`$period_end__3`) and bound as values.
//! * **As-of probes** — when `as_of` comes from the data, one query per table
//!   takes `MAX(time) FILTER (WHERE filter)` for each KPI.
//!
//! Independent queries run concurrently. The reference evaluator in the
//! tests issues one query per KPI per period and must agree.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::NaiveDate;
use datafusion::arrow::array::{Array, Date32Array, Float64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::ScalarValue;
use datafusion::error::DataFusionError;
use datafusion::execution::session_state::SessionState;
use datafusion::sql::sqlparser::ast::Expr;

use super::check::{is_aggregate, quote};
use super::params::{Params, date_from_days, date_value, param_values};
use super::rollup::Rollup;
use super::sql;
use super::tables::ReportTables;
use crate::config::model::MeasureDef;
use crate::period::{Grain, Period};

/// Which series a query column fills.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SeriesKey {
    /// A KPI's values.
    Kpi(String),
    /// A KPI's target values.
    Target(String),
}

/// Values by period start; a missing period had no rows.
pub type Series = BTreeMap<NaiveDate, Option<f64>>;

/// Measures that share one scan, grouped by period.
#[derive(Debug)]
pub struct FlowQuery {
    /// Table read.
    pub table: String,
    /// Time column.
    pub time: String,
    /// Bucket size.
    pub grain: Grain,
    /// Whether rows after `as_of` are ignored (false for targets).
    pub capped: bool,
    /// The measures and the series they fill.
    pub members: Vec<(SeriesKey, MeasureDef)>,
}

/// Stock measures over one table, evaluated once per period.
#[derive(Debug)]
pub struct StockQuery {
    /// Table read.
    pub table: String,
    /// The measures, the series they fill and the periods to evaluate.
    pub members: Vec<(SeriesKey, MeasureDef, Vec<Period>)>,
}

/// Counts the queries a run executes (for tests and logs).
#[derive(Debug, Default)]
pub struct QueryCounter(AtomicUsize);

impl QueryCounter {
    /// Queries executed so far.
    pub fn get(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

/// Groups measures into fused queries.
#[derive(Debug, Default)]
pub struct QueryPlan {
    /// Grouped flow queries.
    pub flows: Vec<FlowQuery>,
    /// Stock queries by table.
    pub stocks: Vec<StockQuery>,
}

impl QueryPlan {
    /// Adds a measure where it belongs: a stock to its table's stock query
    /// (evaluated for `periods`), a flow to the query of its table, time
    /// column and grain (cut at `as_of` when `capped`).
    pub fn add(&mut self, key: SeriesKey, def: &MeasureDef, grain: Grain, capped: bool, periods: Vec<Period>) {
        if def.stock {
            self.add_stock(key, def, periods);
        } else {
            self.add_flow(key, def, grain, capped);
        }
    }

    /// Adds a flow measure to the query of its table, time column and grain.
    fn add_flow(&mut self, key: SeriesKey, def: &MeasureDef, grain: Grain, capped: bool) {
        let (time, _) = def.time.as_ref().expect("flows have a time column");
        let found = self
            .flows
            .iter_mut()
            .find(|q| q.table == def.table && &q.time == time && q.grain == grain && q.capped == capped);
        match found {
            Some(query) => query.members.push((key, def.clone())),
            None => self.flows.push(FlowQuery {
                table: def.table.clone(),
                time: time.clone(),
                grain,
                capped,
                members: vec![(key, def.clone())],
            }),
        }
    }

    /// Adds a stock measure to its table's query.
    fn add_stock(&mut self, key: SeriesKey, def: &MeasureDef, periods: Vec<Period>) {
        match self.stocks.iter_mut().find(|q| q.table == def.table) {
            Some(query) => query.members.push((key, def.clone(), periods)),
            None => self.stocks.push(StockQuery {
                table: def.table.clone(),
                members: vec![(key, def.clone(), periods)],
            }),
        }
    }
}

/// A query that failed, with the table it read.
#[derive(Debug)]
pub struct QueryError {
    /// The table the query read.
    pub table: String,
    /// DataFusion's error.
    pub error: DataFusionError,
}

/// Runs every query of `plan` concurrently and returns the series, per
/// row of `by` values (one empty row key when `by` is empty).
pub async fn run_plan(
    tables: &ReportTables,
    plan: &QueryPlan,
    periods: &HashMap<Grain, Vec<Period>>,
    params: &HashMap<Grain, Params>,
    as_of: NaiveDate,
    by: &[String],
    counter: &QueryCounter,
) -> Result<Grouped, QueryError> {
    let flows = plan
        .flows
        .iter()
        .map(|q| run_flow(tables, q, &periods[&q.grain], &params[&q.grain], as_of, by, counter));
    let stocks = plan.stocks.iter().map(|q| run_stock(tables, q, as_of, by, counter));
    let (flows, stocks) = futures::future::join(
        futures::future::try_join_all(flows),
        futures::future::try_join_all(stocks),
    )
    .await;
    let mut out = HashMap::new();
    for part in flows?.into_iter().chain(stocks?) {
        out.extend(part);
    }
    Ok(out)
}

/// The measure (or `replacement`, e.g. a row count) with the KPI's filter
/// and `extra` pushed into its aggregates.
fn filtered_measure(state: &SessionState, def: &MeasureDef, extra: Option<Expr>, replacement: Option<Expr>) -> Expr {
    let mut measure = replacement
        .unwrap_or_else(|| sql::parse_expr(&def.measure.text).expect("measures were parsed during validation"));
    let filter = def
        .filter
        .as_ref()
        .map(|f| sql::nested(sql::parse_expr(&f.text).expect("filters were parsed during validation")));
    let filter = match (filter, extra) {
        (Some(f), Some(e)) => Some(sql::and(f, e)),
        (f, e) => f.or(e),
    };
    if let Some(filter) = filter {
        sql::push_filter(&mut measure, &filter, &|name| is_aggregate(state, name));
    }
    measure
}

/// Merges sorted periods into contiguous `[start, end)` ranges.
fn merged_ranges(periods: &[Period], cap: Option<NaiveDate>) -> Vec<(NaiveDate, NaiveDate)> {
    let mut sorted: Vec<(NaiveDate, NaiveDate)> = periods.iter().map(|p| (p.start, p.end)).collect();
    sorted.sort();
    let mut ranges: Vec<(NaiveDate, NaiveDate)> = Vec::new();
    for (start, end) in sorted {
        match ranges.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => ranges.push((start, end)),
        }
    }
    if let Some(cap) = cap {
        ranges.retain(|r| r.0 < cap);
        for r in &mut ranges {
            r.1 = r.1.min(cap);
        }
    }
    ranges
}

async fn run_flow(
    tables: &ReportTables,
    query: &FlowQuery,
    periods: &[Period],
    params: &Params,
    as_of: NaiveDate,
    by: &[String],
    counter: &QueryCounter,
) -> Result<Grouped, QueryError> {
    let state = tables.ctx.state();
    let time = quote(&query.time);
    let cap = query.capped.then(|| as_of + chrono::Days::new(1));
    let ranges = merged_ranges(periods, cap);
    let mut values = HashMap::new();
    params.insert_into(&mut values, "");
    let mut window = Vec::new();
    for (i, (start, end)) in ranges.iter().enumerate() {
        window.push(format!("({time} >= $w{i}_start AND {time} < $w{i}_end)"));
        values.insert(format!("w{i}_start"), date_value(*start));
        values.insert(format!("w{i}_end"), date_value(*end));
    }
    let mut out: Grouped = query
        .members
        .iter()
        .map(|(k, _)| (k.clone(), BTreeMap::new()))
        .collect();
    if window.is_empty() {
        return Ok(out);
    }
    let single = || {
        let mut select = SelectList::default();
        let slots: Vec<Slot> = query
            .members
            .iter()
            .map(|(_, def)| select.measure(&state, def, None, None))
            .collect();
        let text = format!(
            "SELECT {groups}CAST(date_trunc('{grain}', {time}) AS DATE) AS \"bucket\", {columns} FROM {table} WHERE {window} GROUP BY {positions}",
            groups = group_columns(by),
            grain = query.grain.name(),
            columns = select.sql(),
            table = quote(&query.table),
            window = window.join(" OR "),
            positions = positions(by.len() + 1),
        );
        (text, select, slots)
    };
    // The two-phase form can fail where the plain one works (an AVG over
    // intervals has no SUM); then the plain one runs, and its error, if
    // any, is the one reported.
    let rolled = match rolled_up(&state, query, by, &time, &window.join(" OR ")) {
        Some((text, select, slots)) => {
            match execute_query(tables, &query.table, &text, values.clone(), counter).await {
                Ok(batches) => Some((batches, select, slots)),
                Err(e) => {
                    tracing::debug!(error = %e.error, "the two-phase query failed; running the plain one");
                    None
                }
            }
        }
        None => None,
    };
    let (batches, select, slots) = match rolled {
        Some(done) => done,
        None => {
            let (text, select, slots) = single();
            (
                execute_query(tables, &query.table, &text, values, counter).await?,
                select,
                slots,
            )
        }
    };
    for batch in &batches {
        let keys = row_keys(batch, by.len());
        let buckets = column_dates(batch, by.len());
        let columns = select.read(batch, by.len() + 1).map_err(|error| QueryError {
            table: query.table.clone(),
            error,
        })?;
        for ((key, _), slot) in query.members.iter().zip(&slots) {
            let rows = out.get_mut(key).expect("every member has a series");
            for (row, bucket) in buckets.iter().enumerate() {
                if let Some(bucket) = bucket {
                    rows.entry(keys[row].clone())
                        .or_default()
                        .insert(*bucket, slot.value(&columns, row));
                }
            }
        }
    }
    Ok(out)
}

/// The two-phase form of a flow query ([`Rollup`]), when every measure's
/// aggregates roll up.
fn rolled_up(
    state: &SessionState,
    query: &FlowQuery,
    by: &[String],
    time: &str,
    window: &str,
) -> Option<(String, SelectList, Vec<Slot>)> {
    let mut rollup = Rollup::default();
    let count = sql::parse_expr("COUNT(*)").expect("COUNT(*) parses");
    let mut slots = Vec::new();
    for (_, def) in &query.members {
        let value = rollup.measure(state, def, None)?;
        let rows = match def.additive {
            true => None,
            false => Some(rollup.measure(state, def, Some(count.clone()))?),
        };
        slots.push(Slot { value, rows });
    }
    let text = rollup.sql(
        &group_columns(by),
        by.len(),
        time,
        query.grain.name(),
        &quote(&query.table),
        window,
    );
    let select = SelectList::of(rollup.columns);
    Some((text, select, slots))
}

/// `by` values of a row: text, or `None` for NULL. Empty for report-level queries.
pub type RowKey = Vec<Option<String>>;

/// Series by measure and by row.
pub type Grouped = HashMap<SeriesKey, BTreeMap<RowKey, Series>>;

/// `"a" AS "g0", "b" AS "g1", ` for grouping columns, read as text.
fn group_columns(by: &[String]) -> String {
    by.iter()
        .enumerate()
        .map(|(i, c)| format!("CAST({} AS VARCHAR) AS \"g{i}\", ", quote(c)))
        .collect()
}

/// `1, 2, …, n`.
fn positions(n: usize) -> String {
    (1..=n).map(|i| i.to_string()).collect::<Vec<_>>().join(", ")
}

/// The row keys of a batch's first `n` columns.
fn row_keys(batch: &RecordBatch, n: usize) -> Vec<RowKey> {
    let texts: Vec<Vec<Option<String>>> = (0..n)
        .map(|i| {
            let column = cast(batch.column(i), &DataType::Utf8).expect("grouping columns are text");
            let column = column
                .as_any()
                .downcast_ref::<datafusion::arrow::array::StringArray>()
                .expect("Utf8 is a StringArray");
            (0..column.len())
                .map(|r| column.is_valid(r).then(|| column.value(r).to_string()))
                .collect()
        })
        .collect();
    (0..batch.num_rows())
        .map(|r| texts.iter().map(|c| c[r].clone()).collect())
        .collect()
}

/// Where a measure's value (and, for a non-additive one, its row count) is
/// in a fused query's columns.
struct Slot {
    value: usize,
    rows: Option<usize>,
}

impl Slot {
    /// The value in `row`; null when a non-additive measure had no rows
    /// (COUNT(DISTINCT …) would say 0).
    fn value(&self, columns: &[Vec<Option<f64>>], row: usize) -> Option<f64> {
        if let Some(rows) = self.rows
            && columns[rows][row].unwrap_or(0.0) == 0.0
        {
            return None;
        }
        columns[self.value][row]
    }
}

/// The aggregate columns of a fused query, each written once.
#[derive(Default)]
struct SelectList {
    columns: Vec<String>,
    index: HashMap<String, usize>,
}

impl SelectList {
    /// A list of columns already written.
    fn of(columns: Vec<String>) -> Self {
        Self {
            columns,
            index: HashMap::new(),
        }
    }

    fn push(&mut self, expr: String) -> usize {
        if let Some(i) = self.index.get(&expr) {
            return *i;
        }
        self.columns.push(expr.clone());
        self.index.insert(expr, self.columns.len() - 1);
        self.columns.len() - 1
    }

    /// Adds a measure with its filter (and `extra`) pushed in; placeholders
    /// get `suffix` appended.
    fn measure(&mut self, state: &SessionState, def: &MeasureDef, extra: Option<Expr>, suffix: Option<&str>) -> Slot {
        let render = |mut expr: Expr| {
            if let Some(suffix) = suffix {
                sql::rename_placeholders(&mut expr, |name| format!("{name}{suffix}"));
            }
            expr.to_string()
        };
        let value = self.push(render(filtered_measure(state, def, extra.clone(), None)));
        let rows = (!def.additive).then(|| {
            let count = sql::parse_expr("COUNT(*)").expect("COUNT(*) parses");
            self.push(render(filtered_measure(state, def, extra, Some(count))))
        });
        Slot { value, rows }
    }

    fn sql(&self) -> String {
        sql::aliased(&self.columns, "c")
    }

    /// Every column as numbers, starting at column `first` of `batch`.
    fn read(&self, batch: &RecordBatch, first: usize) -> Result<Vec<Vec<Option<f64>>>, DataFusionError> {
        (0..self.columns.len()).map(|i| read_f64(batch, first + i)).collect()
    }
}

async fn run_stock(
    tables: &ReportTables,
    query: &StockQuery,
    as_of: NaiveDate,
    by: &[String],
    counter: &QueryCounter,
) -> Result<Grouped, QueryError> {
    let state = tables.ctx.state();
    let mut values = HashMap::new();
    let mut select = SelectList::default();
    let mut slots = Vec::new();
    let mut suffixes: BTreeMap<Period, String> = BTreeMap::new();
    for (key, def, periods) in &query.members {
        for period in periods {
            let next = suffixes.len();
            let suffix = suffixes.entry(*period).or_insert_with(|| format!("__{next}")).clone();
            Params::for_period(*period, as_of).insert_into(&mut values, &suffix);
            let time_range = def.time.as_ref().map(|(column, _)| {
                let column = quote(column);
                sql::parse_expr(&format!("{column} >= $period_start AND {column} < $period_end"))
                    .expect("generated SQL parses")
            });
            slots.push((
                key.clone(),
                period.start,
                select.measure(&state, def, time_range, Some(&suffix)),
            ));
        }
    }
    let group_by = if by.is_empty() {
        String::new()
    } else {
        format!(" GROUP BY {}", positions(by.len()))
    };
    let text = format!(
        "SELECT {}{} FROM {}{group_by}",
        group_columns(by),
        select.sql(),
        quote(&query.table)
    );
    let batches = execute_query(tables, &query.table, &text, values, counter).await?;
    let mut out: Grouped = HashMap::new();
    for batch in &batches {
        let keys = row_keys(batch, by.len());
        let columns = select.read(batch, by.len()).map_err(|error| QueryError {
            table: query.table.clone(),
            error,
        })?;
        for (row, row_key) in keys.iter().enumerate() {
            for (key, start, slot) in &slots {
                out.entry(key.clone())
                    .or_default()
                    .entry(row_key.clone())
                    .or_default()
                    .insert(*start, slot.value(&columns, row));
            }
        }
    }
    Ok(out)
}

/// The latest date in each (table, time column, filter) of `probes`, one
/// query per table.
pub async fn latest_dates(
    tables: &ReportTables,
    probes: &[(String, String, Option<String>)],
    counter: &QueryCounter,
) -> Result<Option<NaiveDate>, QueryError> {
    let mut by_table: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (table, time, filter) in probes {
        let column = match filter {
            Some(f) => format!("MAX({}) FILTER (WHERE {f})", quote(time)),
            None => format!("MAX({})", quote(time)),
        };
        by_table.entry(table).or_default().push(column);
    }
    let jobs = by_table.into_iter().map(|(table, columns)| async move {
        let columns: Vec<String> = columns
            .iter()
            .enumerate()
            .map(|(i, c)| format!("CAST({c} AS DATE) AS \"a{i}\""))
            .collect();
        let text = format!("SELECT {} FROM {}", columns.join(", "), quote(table));
        let batches = execute_query(tables, table, &text, HashMap::new(), counter).await?;
        let mut latest: Option<NaiveDate> = None;
        for batch in &batches {
            for i in 0..batch.num_columns() {
                latest = latest.max(column_dates(batch, i).into_iter().flatten().max());
            }
        }
        Ok::<_, QueryError>(latest)
    });
    let found = futures::future::try_join_all(jobs).await?;
    Ok(found.into_iter().flatten().max())
}

/// Starts one query with named parameters, counting it, and streams its rows.
pub async fn execute_stream(
    tables: &ReportTables,
    table: &str,
    text: &str,
    values: HashMap<String, ScalarValue>,
    counter: &QueryCounter,
) -> Result<datafusion::physical_plan::SendableRecordBatchStream, QueryError> {
    counter.0.fetch_add(1, Ordering::Relaxed);
    tracing::debug!(query = text, "executing");
    let wrap = |error| QueryError {
        table: table.to_string(),
        error,
    };
    let frame = tables.ctx.sql(text).await.map_err(wrap)?;
    let frame = frame.with_param_values(param_values(values)).map_err(wrap)?;
    frame.execute_stream().await.map_err(wrap)
}

/// Executes one query with named parameters, counting it.
pub async fn execute_query(
    tables: &ReportTables,
    table: &str,
    text: &str,
    values: HashMap<String, ScalarValue>,
    counter: &QueryCounter,
) -> Result<Vec<RecordBatch>, QueryError> {
    use futures::TryStreamExt;
    let started = std::time::Instant::now();
    let stream = execute_stream(tables, table, text, values, counter).await?;
    let batches: Vec<RecordBatch> = stream.try_collect().await.map_err(|error| QueryError {
        table: table.to_string(),
        error,
    })?;
    tracing::debug!(
        table,
        rows = batches.iter().map(RecordBatch::num_rows).sum::<usize>(),
        ms = started.elapsed().as_secs_f64() * 1000.0,
        "query finished"
    );
    Ok(batches)
}

fn column_dates(batch: &RecordBatch, index: usize) -> Vec<Option<NaiveDate>> {
    let column = batch.column(index);
    let Ok(dates) = cast(column, &DataType::Date32) else {
        return vec![None; column.len()];
    };
    let dates = dates
        .as_any()
        .downcast_ref::<Date32Array>()
        .expect("cast to Date32 gives Date32Array");
    (0..dates.len())
        .map(|i| dates.is_valid(i).then(|| date_from_days(dates.value(i))))
        .collect()
}

/// A column as numbers (nulls and non-finite values as `None`).
pub fn read_f64(batch: &RecordBatch, index: usize) -> Result<Vec<Option<f64>>, DataFusionError> {
    let values = cast(batch.column(index), &DataType::Float64)?;
    let values = values
        .as_any()
        .downcast_ref::<Float64Array>()
        .expect("cast to Float64 gives Float64Array");
    Ok((0..values.len())
        .map(|i| values.is_valid(i).then(|| values.value(i)).filter(|v| v.is_finite()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn periods_merge_into_ranges_cut_at_as_of() {
        let cur = Period::containing(Grain::Month, d("2026-11-10"));
        let mut periods = cur.trailing(3);
        periods.push(cur.year_ago());
        let ranges = merged_ranges(&periods, Some(d("2026-11-11")));
        assert_eq!(
            ranges,
            [(d("2025-11-01"), d("2025-12-01")), (d("2026-09-01"), d("2026-11-11"))]
        );
    }
}

//! Planning every SQL fragment of a report against its tables' schemas,
//! without executing anything, so that errors point at the TOML key they
//! come from rather than at a generated query.

use datafusion::arrow::datatypes::DataType;
use datafusion::execution::session_state::SessionState;

use super::plan_error::{Wrapped, plan_error};
use super::sql;
use super::tables::ReportTables;
use crate::config::diagnostic::{Diagnostic, suggestion};
use crate::config::model::{Breakdown, Funnel, KpiDef, MeasureDef, Report, TargetDef};

/// Whether `name` (lower case) is an aggregate function DataFusion knows.
pub fn is_aggregate(state: &SessionState, name: &str) -> bool {
    state.aggregate_functions().contains_key(name)
        || state
            .aggregate_functions()
            .values()
            .any(|f| f.aliases().iter().any(|a| a == name))
}

/// Plans every measure, filter and time column of `report`.
pub async fn check_report(tables: &ReportTables, report: &Report) -> Vec<Diagnostic> {
    let mut problems = Vec::new();
    for kpi in report.kpis.values() {
        if let KpiDef::Measure(def) = &kpi.def {
            check_measure(tables, def, &mut problems).await;
        }
        if let Some(TargetDef::Measure(def)) = &kpi.target {
            check_measure(tables, def, &mut problems).await;
        }
    }
    for breakdown in report.breakdowns.values() {
        check_breakdown(tables, report, breakdown, &mut problems).await;
    }
    for funnel in report.funnels.values() {
        check_funnel(tables, funnel, &mut problems).await;
    }
    for table in report.table_queries.values() {
        let wrapped = Wrapped::new("", &table.sql.text, "");
        if let Err(e) = tables.ctx.state().create_logical_plan(&wrapped.sql).await {
            problems.push(plan_error(&e, &table.sql, &wrapped, None));
        }
    }
    problems
}

/// The `by` columns must be in every table the breakdown's measures read.
async fn check_breakdown(
    tables: &ReportTables,
    report: &Report,
    breakdown: &Breakdown,
    problems: &mut Vec<Diagnostic>,
) {
    for def in breakdown.targets.values() {
        check_measure(tables, def, problems).await;
    }
    let mut reads: Vec<(String, String)> = Vec::new();
    let mut stack: Vec<String> = breakdown.kpis.clone();
    while let Some(id) = stack.pop() {
        match report.kpis.get(&id).map(|k| &k.def) {
            Some(KpiDef::Measure(def)) => reads.push((def.table.clone(), format!("KPI `{id}`"))),
            Some(KpiDef::Derived(expr)) => stack.extend(expr.inputs().into_iter().map(String::from)),
            None => {}
        }
    }
    for (kpi, def) in &breakdown.targets {
        reads.push((def.table.clone(), format!("the target of `{kpi}`")));
    }
    reads.dedup();
    for (table, reader) in reads {
        let Ok(provider) = tables.ctx.table_provider(table.as_str()).await else {
            continue;
        };
        let schema = provider.schema();
        for column in &breakdown.by {
            if schema.field_with_name(column).is_err() {
                let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
                let hint = suggestion(column, names.iter().copied());
                problems.push(Diagnostic::at(
                    &breakdown.location,
                    format!("breakdowns.{}.by", breakdown.id),
                    format!("no column `{column}` in `{table}`, which {reader} reads{hint}"),
                ));
            }
        }
    }
}

async fn check_funnel(tables: &ReportTables, funnel: &Funnel, problems: &mut Vec<Diagnostic>) {
    let state = tables.ctx.state();
    let table = quote(&funnel.table);
    let Ok(provider) = tables.ctx.table_provider(funnel.table.as_str()).await else {
        return;
    };
    let schema = provider.schema();
    check_time_column(
        &schema,
        &funnel.time,
        &funnel.table,
        &format!("funnels.{}.time", funnel.id),
        problems,
    );
    for aggregate in std::iter::once(&funnel.count).chain(&funnel.value) {
        let wrapped = Wrapped::new("SELECT ", &aggregate.text, &format!(" FROM {table}"));
        if let Err(e) = state.create_logical_plan(&wrapped.sql).await {
            problems.push(plan_error(&e, aggregate, &wrapped, Some(&funnel.table)));
        }
    }
    for stage in &funnel.stages {
        let wrapped = Wrapped::new(&format!("SELECT 1 FROM {table} WHERE "), &stage.filter.text, "");
        if let Err(e) = state.create_logical_plan(&wrapped.sql).await {
            problems.push(plan_error(&e, &stage.filter, &wrapped, Some(&funnel.table)));
        }
    }
}

async fn check_measure(tables: &ReportTables, def: &MeasureDef, problems: &mut Vec<Diagnostic>) {
    let state = tables.ctx.state();
    let table = quote(&def.table);
    let Ok(provider) = tables.ctx.table_provider(def.table.as_str()).await else {
        // The view failed to plan; that problem is reported already.
        return;
    };
    let schema = provider.schema();

    let wrapped = Wrapped::new("SELECT ", &def.measure.text, &format!(" FROM {table}"));
    match state.create_logical_plan(&wrapped.sql).await {
        Err(e) => problems.push(plan_error(&e, &def.measure, &wrapped, Some(&def.table))),
        Ok(plan) => {
            let parsed = sql::parse_expr(&def.measure.text);
            let aggregates = parsed
                .as_ref()
                .map(|e| sql::aggregate_calls(e, &|name| is_aggregate(&state, name)))
                .unwrap_or(1);
            let data_type = plan.schema().field(0).data_type().clone();
            if aggregates == 0 {
                problems.push(Diagnostic::at(
                    &def.measure.location,
                    &def.measure.object,
                    format!(
                        "`{}` is not an aggregate; a measure must aggregate the period's rows, e.g. SUM(amount) or COUNT(*)",
                        def.measure.text
                    ),
                ));
            } else if !(data_type.is_numeric() || data_type == DataType::Null || data_type == DataType::Boolean) {
                problems.push(Diagnostic::at(
                    &def.measure.location,
                    &def.measure.object,
                    format!("the measure gives {data_type}, not a number"),
                ));
            }
        }
    }

    if let Some(filter) = &def.filter {
        let wrapped = Wrapped::new(&format!("SELECT 1 FROM {table} WHERE "), &filter.text, "");
        if let Err(e) = state.create_logical_plan(&wrapped.sql).await {
            problems.push(plan_error(&e, filter, &wrapped, Some(&def.table)));
        }
    }

    if let Some(time) = &def.time {
        let object = format!("{}.time", def.measure.object.trim_end_matches(".measure"));
        check_time_column(&schema, time, &def.table, &object, problems);
    }
}

/// The time column must exist and hold dates or timestamps.
fn check_time_column(
    schema: &datafusion::arrow::datatypes::Schema,
    (column, location): &(String, crate::config::source_file::Location),
    table: &str,
    object: &str,
    problems: &mut Vec<Diagnostic>,
) {
    match schema.field_with_name(column) {
        Err(_) => {
            let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
            let hint = suggestion(column, names.iter().copied());
            problems.push(Diagnostic::at(
                location,
                object,
                format!("no column `{column}` in `{table}`{hint}"),
            ));
        }
        Ok(field) if !is_temporal(field.data_type()) => {
            problems.push(Diagnostic::at(
                location,
                object,
                format!(
                    "`{column}` is {}, not a date or timestamp (for a CSV source, pin it: schema = {{ {column} = \"date\" }})",
                    field.data_type()
                ),
            ));
        }
        Ok(_) => {}
    }
}

/// Date and timestamp types a time column may have.
pub fn is_temporal(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Date32 | DataType::Date64 | DataType::Timestamp(_, _)
    )
}

/// A double-quoted SQL identifier.
pub fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

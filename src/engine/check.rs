//! Planning every SQL fragment of a report against its tables' schemas,
//! without executing anything, so that errors point at the TOML key they
//! come from rather than at a generated query.

use datafusion::arrow::datatypes::DataType;
use datafusion::execution::session_state::SessionState;

use super::plan_error::{Wrapped, plan_error};
use super::sql;
use super::tables::ReportTables;
use crate::config::diagnostic::{Diagnostic, suggestion};
use crate::config::model::{KpiDef, MeasureDef, Report, TargetDef};

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
    problems
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

    if let Some((column, location)) = &def.time {
        let object = format!("{}.time", def.measure.object.trim_end_matches(".measure"));
        match schema.field_with_name(column) {
            Err(_) => {
                let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
                let hint = suggestion(column, names.iter().copied());
                problems.push(Diagnostic::at(
                    location,
                    object,
                    format!("no column `{column}` in `{}`{hint}", def.table),
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

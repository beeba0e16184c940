//! Tables: a SQL query with its placeholders bound, cut at `max_rows`.

use std::collections::HashMap;

use datafusion::arrow::array::Array;
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use serde_json::{Value as Json, json};

use super::params::Params;
use futures::TryStreamExt;

use super::queries::{QueryCounter, QueryError, execute_stream, read_f64};
use super::tables::ReportTables;
use crate::config::model::TableQuery;

/// Runs a table query and returns its results.json object.
pub async fn evaluate_table(
    tables: &ReportTables,
    table: &TableQuery,
    params: &Params,
    counter: &QueryCounter,
) -> Result<Json, QueryError> {
    let mut values = HashMap::new();
    params.insert_into(&mut values, "");
    // Read one row more than kept, which tells whether rows were cut; the
    // query itself is not wrapped, so its ORDER BY stands.
    let wrap = |error| QueryError {
        table: table.id.clone(),
        error,
    };
    let mut stream = execute_stream(tables, &table.id, &table.sql.text, values, counter).await?;
    let mut batches = Vec::new();
    let mut seen = 0;
    while seen <= table.max_rows
        && let Some(batch) = stream.try_next().await.map_err(wrap)?
    {
        seen += batch.num_rows();
        batches.push(batch);
    }
    let columns: Vec<String> = match batches.first() {
        Some(b) => b.schema().fields().iter().map(|f| f.name().clone()).collect(),
        None => Vec::new(),
    };
    let mut rows: Vec<Json> = Vec::new();
    for batch in &batches {
        let mut cells: Vec<Vec<Json>> = vec![Vec::new(); batch.num_rows()];
        for (i, column) in batch.columns().iter().enumerate() {
            let numeric = column.data_type().is_numeric();
            let numbers = if numeric {
                Some(read_f64(batch, i).map_err(wrap)?)
            } else {
                None
            };
            let formatter =
                ArrayFormatter::try_new(column.as_ref(), &FormatOptions::default()).map_err(|e| wrap(e.into()))?;
            for (row, cell) in cells.iter_mut().enumerate() {
                let value = if column.is_null(row) {
                    Json::Null
                } else if let Some(numbers) = &numbers {
                    json!(numbers[row])
                } else if column.data_type() == &DataType::Boolean {
                    json!(formatter.value(row).to_string() == "true")
                } else {
                    Json::String(formatter.value(row).to_string())
                };
                cell.push(value);
            }
        }
        rows.extend(cells.into_iter().map(Json::Array));
    }
    let truncated = rows.len() > table.max_rows;
    rows.truncate(table.max_rows);
    Ok(json!({"title": table.title, "columns": columns, "rows": rows, "truncated": truncated}))
}

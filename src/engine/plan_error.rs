//! Planning errors located in the TOML.
//!
//! Each SQL fragment is planned inside a small wrapper query whose text
//! starts with a known prefix, so a span DataFusion reports (with
//! `collect_spans` on) maps back to a column inside the TOML string.

use datafusion::common::SchemaError;
use datafusion::error::DataFusionError;

use crate::config::diagnostic::{Diagnostic, suggestion};
use crate::config::model::SqlText;
use crate::engine::sources::clean_message;
use crate::engine::sql::sql_location;

/// A wrapper query around a fragment: `prefix` + fragment + `suffix`.
pub struct Wrapped {
    /// The whole query text.
    pub sql: String,
    /// Characters before the fragment on the first line.
    pub prefix_chars: u64,
}

impl Wrapped {
    /// Wraps `fragment` so it starts on line 1 after `prefix`.
    pub fn new(prefix: &str, fragment: &str, suffix: &str) -> Self {
        Self {
            sql: format!("{prefix}{fragment}{suffix}"),
            prefix_chars: prefix.chars().count() as u64,
        }
    }
}

/// A diagnostic for a planning error of `wrapped`, pointing into `sql`;
/// `table` names the table an unknown column was looked up in, if one.
pub fn plan_error(error: &DataFusionError, sql: &SqlText, wrapped: &Wrapped, table: Option<&str>) -> Diagnostic {
    let message = describe(error, table);
    let span = error.diagnostic().and_then(|d| d.span).filter(|s| s.start.line > 0);
    let location = match span {
        Some(span) => {
            let (line, col) = (span.start.line, span.start.column);
            let col = if line == 1 {
                col.saturating_sub(wrapped.prefix_chars)
            } else {
                col
            };
            let len = if span.end.line == span.start.line {
                span.end.column.saturating_sub(span.start.column) as usize
            } else {
                1
            };
            if col == 0 {
                sql.location.clone()
            } else {
                sql_location(sql, line, col, len)
            }
        }
        None => located_by_name(error, sql).unwrap_or_else(|| sql.location.clone()),
    };
    Diagnostic::at(&location, &sql.object, message)
}

/// A plain message for the common planning errors, with a suggestion for
/// unknown columns.
pub fn describe(error: &DataFusionError, table: Option<&str>) -> String {
    if let DataFusionError::SchemaError(schema_error, _) = error.find_root()
        && let SchemaError::FieldNotFound { field, valid_fields } = schema_error.as_ref()
    {
        let names: Vec<&str> = valid_fields.iter().map(|c| c.name.as_str()).collect();
        let hint = suggestion(&field.name, names.iter().copied());
        let place = table.map(|t| format!(" in `{t}`")).unwrap_or_default();
        return format!("no column `{}`{place}{hint}", field.name);
    }
    clean_message(error)
}

/// For errors without a span, the first mention of the missing column.
fn located_by_name(error: &DataFusionError, sql: &SqlText) -> Option<crate::config::source_file::Location> {
    let DataFusionError::SchemaError(schema_error, _) = error.find_root() else {
        return None;
    };
    let SchemaError::FieldNotFound { field, .. } = schema_error.as_ref() else {
        return None;
    };
    let at = sql.text.find(field.name.as_str())?;
    let line = sql.text[..at].matches('\n').count() as u64 + 1;
    let line_start = sql.text[..at].rfind('\n').map_or(0, |i| i + 1);
    let col = sql.text[line_start..at].chars().count() as u64 + 1;
    Some(sql_location(sql, line, col, field.name.chars().count()))
}

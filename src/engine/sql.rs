//! SQL syntax helpers over sqlparser's AST: parsing the fragments users
//! write (measures, filters, views), finding placeholders, deciding whether a
//! measure is additive, and pushing a filter into every aggregate call.

use std::collections::BTreeSet;
use std::ops::ControlFlow;

pub use datafusion::sql::sqlparser::ast::Expr;
use datafusion::sql::sqlparser::ast::{
    BinaryOperator, FunctionArguments, Query, Statement, Value, visit_expressions, visit_expressions_mut,
    visit_relations,
};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::Token;

use crate::config::diagnostic::Diagnostic;
use crate::config::model::SqlText;
use crate::config::source_file::Location;

/// The placeholders a SQL text may use, bound to DATE values of the run.
pub const PLACEHOLDERS: [&str; 4] = ["$period_start", "$period_end", "$previous_start", "$as_of"];

/// A syntax error with its 1-based position inside the SQL text, if known.
#[derive(Debug)]
pub struct SyntaxError {
    /// The parser's message without the position suffix.
    pub message: String,
    /// Line and column inside the SQL text.
    pub position: Option<(u64, u64)>,
}

/// Parses a single SQL expression (a measure or a filter).
pub fn parse_expr(text: &str) -> Result<Expr, SyntaxError> {
    let dialect = GenericDialect {};
    let mut parser = Parser::new(&dialect).try_with_sql(text).map_err(syntax_error)?;
    let expr = parser.parse_expr().map_err(syntax_error)?;
    let next = parser.peek_token();
    if next.token != Token::EOF {
        return Err(SyntaxError {
            message: format!("unexpected `{}` after the expression", next.token),
            position: Some((next.span.start.line, next.span.start.column)),
        });
    }
    Ok(expr)
}

/// Parses a `SELECT` query (a view or a table).
pub fn parse_query(text: &str) -> Result<Box<Query>, SyntaxError> {
    let statements = Parser::parse_sql(&GenericDialect {}, text).map_err(syntax_error)?;
    match <[Statement; 1]>::try_from(statements) {
        Ok([Statement::Query(query)]) => Ok(query),
        _ => Err(SyntaxError {
            message: "expected exactly one SELECT query".into(),
            position: None,
        }),
    }
}

fn syntax_error(e: ParserError) -> SyntaxError {
    let text = match e {
        ParserError::TokenizerError(m) | ParserError::ParserError(m) => m,
        other => other.to_string(),
    };
    // sqlparser ends messages with " at Line: L, Column: C".
    if let Some(at) = text.rfind(" at Line: ") {
        let tail = &text[at + " at Line: ".len()..];
        if let Some((line, col)) = tail.split_once(", Column: ")
            && let (Ok(line), Ok(col)) = (line.trim().parse(), col.trim().parse())
        {
            return SyntaxError {
                message: text[..at].to_string(),
                position: Some((line, col)),
            };
        }
    }
    SyntaxError {
        message: text,
        position: None,
    }
}

impl SyntaxError {
    /// A diagnostic pointing into the TOML string the SQL came from.
    pub fn diagnostic(&self, sql: &SqlText) -> Diagnostic {
        let location = match self.position {
            Some((line, col)) => sql_location(sql, line, col, 1),
            None => sql.location.clone(),
        };
        Diagnostic::at(&location, &sql.object, format!("SQL syntax error: {}", self.message))
    }
}

/// Maps a 1-based line/column inside `sql.text` to the TOML file, covering
/// `len` characters. Falls back to the whole string when the TOML spelling
/// differs from the value (escape sequences).
pub fn sql_location(sql: &SqlText, line: u64, col: u64, len: usize) -> Location {
    let Some(content_start) = content_offset(sql) else {
        return sql.location.clone();
    };
    let mut offset = 0;
    for (i, text_line) in sql.text.split_inclusive('\n').enumerate() {
        if i as u64 + 1 == line {
            let in_line: usize = text_line
                .chars()
                .take(col.saturating_sub(1) as usize)
                .map(char::len_utf8)
                .sum();
            let start = offset + in_line;
            let end = start
                + sql.text[start..]
                    .chars()
                    .take(len.max(1))
                    .map(char::len_utf8)
                    .sum::<usize>();
            return sql.location.sub(content_start + start, content_start + end);
        }
        offset += text_line.len();
    }
    sql.location.clone()
}

/// Where the string's content starts inside its TOML value span, if the
/// TOML spelling is the content itself (no escapes).
fn content_offset(sql: &SqlText) -> Option<usize> {
    let raw = sql.location.file.text.get(sql.location.span.clone())?;
    let quote = if raw.starts_with("\"\"\"") || raw.starts_with("'''") {
        3
    } else {
        1
    };
    let mut start = quote;
    if quote == 3 {
        if raw[start..].starts_with("\r\n") {
            start += 2;
        } else if raw[start..].starts_with('\n') {
            start += 1;
        }
    }
    let body = raw.get(start..raw.len().checked_sub(quote)?)?;
    (body == sql.text).then_some(start)
}

/// The placeholders used in a parsed expression, in order of first use.
pub fn placeholders(expr: &Expr) -> Vec<String> {
    let mut found = Vec::new();
    let _ = visit_expressions(expr, |e| {
        if let Expr::Value(v) = e
            && let Value::Placeholder(name) = &v.value
            && !found.contains(name)
        {
            found.push(name.clone());
        }
        ControlFlow::<()>::Continue(())
    });
    found
}

/// The placeholders a query uses.
pub fn query_placeholders(query: &Query) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let _ = visit_expressions(query, |e| {
        if let Expr::Value(v) = e
            && let Value::Placeholder(name) = &v.value
        {
            found.insert(name.clone());
        }
        ControlFlow::<()>::Continue(())
    });
    found
}

/// Replaces each placeholder by `rename(name)`.
pub fn rename_placeholders<V: datafusion::sql::sqlparser::ast::VisitMut>(
    node: &mut V,
    rename: impl Fn(&str) -> String,
) {
    let _ = visit_expressions_mut(node, |e| {
        if let Expr::Value(v) = e
            && let Value::Placeholder(name) = &mut v.value
        {
            *name = rename(name);
        }
        ControlFlow::<()>::Continue(())
    });
}

/// The tables a query reads, lower-cased, without CTE names resolved away.
pub fn query_relations(query: &Query) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let _ = visit_relations(query, |name| {
        if let Some(last) = name.0.last() {
            found.insert(last.to_string().trim_matches('"').to_lowercase());
        }
        ControlFlow::<()>::Continue(())
    });
    found
}

/// Whether a measure is additive: its outermost call is a single `SUM(…)` or
/// `COUNT(…)` without `DISTINCT`, so an empty period is 0 and a partial
/// period can be projected by pace.
pub fn is_additive(measure: &Expr) -> bool {
    match measure {
        Expr::Nested(inner) => is_additive(inner),
        Expr::Function(f) => {
            let name = f.name.to_string().to_lowercase();
            let distinct = matches!(&f.args, FunctionArguments::List(list) if list.duplicate_treatment.is_some());
            (name == "sum" || name == "count") && !distinct && f.over.is_none()
        }
        _ => false,
    }
}

/// The aggregate calls in a measure, as written, for messages and checks.
pub fn aggregate_calls(measure: &Expr, is_aggregate: &dyn Fn(&str) -> bool) -> usize {
    let mut count = 0;
    let _ = visit_expressions(measure, |e| {
        if let Expr::Function(f) = e
            && f.over.is_none()
            && is_aggregate(&f.name.to_string().to_lowercase())
        {
            count += 1;
        }
        ControlFlow::<()>::Continue(())
    });
    count
}

/// Pushes `filter` into every aggregate call of `measure`, as
/// `FILTER (WHERE …)`, ANDed with any filter already written there, so that
/// many measures with different filters can share one scan.
pub fn push_filter(measure: &mut Expr, filter: &Expr, is_aggregate: &dyn Fn(&str) -> bool) {
    let _ = visit_expressions_mut(measure, |e| {
        if let Expr::Function(f) = e
            && f.over.is_none()
            && is_aggregate(&f.name.to_string().to_lowercase())
        {
            f.filter = Some(Box::new(match f.filter.take() {
                Some(existing) => and(nested(*existing), nested(filter.clone())),
                None => filter.clone(),
            }));
        }
        ControlFlow::<()>::Continue(())
    });
}

/// `left AND right`.
pub fn and(left: Expr, right: Expr) -> Expr {
    Expr::BinaryOp {
        left: Box::new(left),
        op: BinaryOperator::And,
        right: Box::new(right),
    }
}

/// `NOT (expr)`.
pub fn not(expr: Expr) -> Expr {
    Expr::UnaryOp {
        op: datafusion::sql::sqlparser::ast::UnaryOperator::Not,
        expr: Box::new(nested(expr)),
    }
}

/// `(expr)`.
pub fn nested(expr: Expr) -> Expr {
    Expr::Nested(Box::new(expr))
}

/// `a AS "c0", b AS "c1", …` for a select list named `prefix` + position.
pub fn aliased(expressions: &[String], prefix: &str) -> String {
    expressions
        .iter()
        .enumerate()
        .map(|(i, e)| format!("{e} AS \"{prefix}{i}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_agg(name: &str) -> bool {
        matches!(name, "sum" | "count" | "avg" | "max")
    }

    #[test]
    fn filter_goes_into_every_aggregate() {
        let mut m = parse_expr("SUM(a) / COUNT(*)").unwrap();
        push_filter(&mut m, &parse_expr("b > 1 OR c").unwrap(), &is_agg);
        assert_eq!(
            m.to_string(),
            "SUM(a) FILTER (WHERE b > 1 OR c) / COUNT(*) FILTER (WHERE b > 1 OR c)"
        );
        let mut m = parse_expr("MAX(a) FILTER (WHERE x)").unwrap();
        push_filter(&mut m, &parse_expr("y OR z").unwrap(), &is_agg);
        assert_eq!(m.to_string(), "MAX(a) FILTER (WHERE (x) AND (y OR z))");
    }

    #[test]
    fn additive_is_an_outermost_sum_or_count() {
        let additive = |s| is_additive(&parse_expr(s).unwrap());
        assert!(additive("SUM(amount)"));
        assert!(additive("count(*)"));
        assert!(additive("(SUM(a * b))"));
        assert!(!additive("COUNT(DISTINCT account_id)"));
        assert!(!additive("SUM(a) / COUNT(*)"));
        assert!(!additive("AVG(a)"));
    }

    #[test]
    fn finds_and_renames_placeholders() {
        let mut e = parse_expr("created < $period_end AND (closed IS NULL OR closed >= $period_end)").unwrap();
        assert_eq!(placeholders(&e), ["$period_end"]);
        rename_placeholders(&mut e, |n| format!("{n}_3"));
        assert_eq!(placeholders(&e), ["$period_end_3"]);
    }

    #[test]
    fn syntax_errors_carry_their_position() {
        let e = parse_expr("SUM(amount").unwrap_err();
        assert_eq!(e.message, "Expected: ), found: EOF");
        let e = parse_expr("SUM(a) +\n * 2").unwrap_err();
        assert_eq!(e.position, Some((2, 2)), "{}", e.message);
        let e = parse_expr("SUM(a) b c").unwrap_err();
        assert_eq!(
            (e.message.as_str(), e.position),
            ("unexpected `b` after the expression", Some((1, 8)))
        );
    }
}

//! Derived KPIs: arithmetic over other KPIs (`won_count / closed_deals`),
//! evaluated per period in Rust with SQL's null semantics, where division by
//! zero gives null instead of an error.

use datafusion::sql::sqlparser::ast::{BinaryOperator, Expr, UnaryOperator, Value};

/// A checked `expr`: numbers, KPI ids, `+ - * /`, unary minus, parentheses.
#[derive(Debug, Clone, PartialEq)]
pub enum DerivedExpr {
    /// A numeric literal.
    Number(f64),
    /// Another KPI's value in the same period.
    Kpi(String),
    /// `-x`.
    Neg(Box<DerivedExpr>),
    /// `a op b`.
    Binary(Box<DerivedExpr>, ArithOp, Box<DerivedExpr>),
}

/// The four arithmetic operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArithOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
}

/// A part of an `expr` that is not arithmetic over KPIs, with its
/// 1-based line and column inside the expression text.
#[derive(Debug)]
pub struct Unsupported {
    /// What was found.
    pub found: String,
    /// Where, if sqlparser knows.
    pub position: Option<(u64, u64)>,
}

impl DerivedExpr {
    /// Converts a parsed SQL expression, rejecting anything but arithmetic.
    pub fn from_sql(expr: &Expr) -> Result<Self, Unsupported> {
        use datafusion::sql::sqlparser::ast::Spanned;
        let unsupported = |e: &Expr| {
            let span = e.span();
            Unsupported {
                found: e.to_string(),
                position: (span.start.line > 0).then_some((span.start.line, span.start.column)),
            }
        };
        Ok(match expr {
            Expr::Nested(inner) => Self::from_sql(inner)?,
            Expr::Identifier(ident) => DerivedExpr::Kpi(ident.value.clone()),
            Expr::Value(v) => match &v.value {
                Value::Number(n, _) => DerivedExpr::Number(n.parse().map_err(|_| unsupported(expr))?),
                _ => return Err(unsupported(expr)),
            },
            Expr::UnaryOp {
                op: UnaryOperator::Minus,
                expr: inner,
            } => DerivedExpr::Neg(Box::new(Self::from_sql(inner)?)),
            Expr::UnaryOp {
                op: UnaryOperator::Plus,
                expr: inner,
            } => Self::from_sql(inner)?,
            Expr::BinaryOp { left, op, right } => {
                let op = match op {
                    BinaryOperator::Plus => ArithOp::Add,
                    BinaryOperator::Minus => ArithOp::Sub,
                    BinaryOperator::Multiply => ArithOp::Mul,
                    BinaryOperator::Divide => ArithOp::Div,
                    _ => return Err(unsupported(expr)),
                };
                DerivedExpr::Binary(Box::new(Self::from_sql(left)?), op, Box::new(Self::from_sql(right)?))
            }
            _ => return Err(unsupported(expr)),
        })
    }

    /// The KPI ids used, in order of first use.
    pub fn inputs(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.collect_inputs(&mut out);
        out
    }

    fn collect_inputs<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            DerivedExpr::Number(_) => {}
            DerivedExpr::Kpi(id) => {
                if !out.contains(&id.as_str()) {
                    out.push(id);
                }
            }
            DerivedExpr::Neg(e) => e.collect_inputs(out),
            DerivedExpr::Binary(a, _, b) => {
                a.collect_inputs(out);
                b.collect_inputs(out);
            }
        }
    }

    /// Evaluates with `value(id)` for each input: null in, null out;
    /// division by zero (or a non-finite result) is null.
    pub fn eval(&self, value: &dyn Fn(&str) -> Option<f64>) -> Option<f64> {
        let result = match self {
            DerivedExpr::Number(n) => *n,
            DerivedExpr::Kpi(id) => value(id)?,
            DerivedExpr::Neg(e) => -e.eval(value)?,
            DerivedExpr::Binary(a, op, b) => {
                let (a, b) = (a.eval(value)?, b.eval(value)?);
                match op {
                    ArithOp::Add => a + b,
                    ArithOp::Sub => a - b,
                    ArithOp::Mul => a * b,
                    ArithOp::Div if b == 0.0 => return None,
                    ArithOp::Div => a / b,
                }
            }
        };
        result.is_finite().then_some(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::sql::parse_expr;

    fn derived(text: &str) -> DerivedExpr {
        DerivedExpr::from_sql(&parse_expr(text).unwrap()).unwrap()
    }

    #[test]
    fn evaluates_with_null_on_division_by_zero() {
        let e = derived("(won - lost) / total * 100");
        assert_eq!(e.inputs(), ["won", "lost", "total"]);
        let vals = |t: f64| {
            move |id: &str| match id {
                "won" => Some(6.0),
                "lost" => Some(2.0),
                _ => Some(t),
            }
        };
        assert_eq!(e.eval(&vals(8.0)), Some(50.0));
        assert_eq!(e.eval(&vals(0.0)), None);
        assert_eq!(derived("-a + 1").eval(&|_| None), None);
    }

    #[test]
    fn rejects_functions_and_comparisons() {
        let err = DerivedExpr::from_sql(&parse_expr("a / SUM(b)").unwrap()).unwrap_err();
        assert_eq!(err.found, "SUM(b)");
        assert_eq!(err.position, Some((1, 5)));
        assert!(DerivedExpr::from_sql(&parse_expr("a > b").unwrap()).is_err());
    }
}

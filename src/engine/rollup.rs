//! Two-phase evaluation of a fused flow query whose aggregates roll up.
//!
//! One query with a `FILTER (WHERE …)` aggregate per KPI costs one
//! accumulator update per row and KPI: 42 KPIs over 5M rows spend most of
//! their time there, not reading the file. When every aggregate is a
//! `SUM`, `COUNT`, `MIN`, `MAX` or `AVG` without `DISTINCT`, the rows are
//! first grouped by day, by the `by` columns and by a bit mask of the
//! filters each row passes, computing each distinct partial aggregate once
//! (`SUM(amount)`, `COUNT(*)`, … however many filters use it); a second,
//! tiny aggregation then rolls those rows up into periods, each KPI's
//! aggregates restricted to the rows whose mask has its filter's bits.

use std::ops::ControlFlow;

use datafusion::execution::session_state::SessionState;
use datafusion::sql::sqlparser::ast::{
    Expr, Function, FunctionArg, FunctionArgExpr, FunctionArguments, visit_expressions_mut,
};

use super::check::is_aggregate;
use super::sql;
use crate::config::model::MeasureDef;

/// The most filters one mask holds (bits of an Int64).
const MAX_FLAGS: usize = 62;

/// Phase one's filters and partial aggregates, phase two's columns.
#[derive(Default)]
pub struct Rollup {
    flags: Vec<String>,
    partials: Vec<String>,
    /// Phase-two expressions, each written once.
    pub columns: Vec<String>,
}

impl Rollup {
    /// Rewrites `def`'s measure (or `replacement`, e.g. a row count, with
    /// the measure's filter) into a phase-two column over the partials;
    /// `None` when an aggregate cannot be rolled up.
    pub fn measure(&mut self, state: &SessionState, def: &MeasureDef, replacement: Option<Expr>) -> Option<usize> {
        let mut measure = match replacement {
            Some(r) => r,
            None => sql::parse_expr(&def.measure.text).ok()?,
        };
        let filter = match &def.filter {
            Some(f) => Some(self.flag(&sql::nested(sql::parse_expr(&f.text).ok()?))?),
            None => None,
        };
        let mut failed = false;
        let _ = visit_expressions_mut(&mut measure, |e| {
            if let Expr::Function(f) = e
                && f.over.is_none()
                && is_aggregate(state, &f.name.to_string().to_lowercase())
            {
                match self.leaf(f, filter) {
                    Some(outer) => *e = outer,
                    None => {
                        failed = true;
                        return ControlFlow::Break(());
                    }
                }
            }
            ControlFlow::Continue(())
        });
        if failed {
            return None;
        }
        Some(self.column(measure.to_string()))
    }

    /// Phase two's expression for one aggregate call, restricted to the
    /// rows that pass `filter` and the call's own `FILTER`.
    fn leaf(&mut self, f: &Function, filter: Option<u64>) -> Option<Expr> {
        let name = f.name.to_string().to_lowercase();
        let FunctionArguments::List(list) = &f.args else {
            return None;
        };
        if list.duplicate_treatment.is_some()
            || !list.clauses.is_empty()
            || f.null_treatment.is_some()
            || !f.within_group.is_empty()
            || list.args.len() != 1
        {
            return None;
        }
        let argument = match &list.args[0] {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => e.to_string(),
            FunctionArg::Unnamed(FunctionArgExpr::Wildcard) if name == "count" => "*".to_string(),
            _ => return None,
        };
        let mut bits = filter.unwrap_or(0);
        if let Some(own) = &f.filter {
            bits |= self.flag(&sql::nested((**own).clone()))?;
        }
        let only = if bits == 0 {
            String::new()
        } else {
            format!(" FILTER (WHERE (\"m\" & {bits}) = {bits})")
        };
        let outer = match name.as_str() {
            "sum" => format!("SUM({}){only}", self.partial(format!("SUM({argument})"))),
            "count" => format!("COALESCE(SUM({}){only}, 0)", self.partial(format!("COUNT({argument})"))),
            "min" | "max" => format!("{name}({}){only}", self.partial(format!("{name}({argument})"))),
            "avg" => {
                let sum = self.partial(format!("SUM({argument})"));
                let count = self.partial(format!("COUNT({argument})"));
                format!("(CAST(SUM({sum}){only} AS DOUBLE) / NULLIF(CAST(SUM({count}){only} AS DOUBLE), 0))")
            }
            _ => return None,
        };
        sql::parse_expr(&outer).ok()
    }

    /// The bit of a filter, added when new; `None` past [`MAX_FLAGS`].
    fn flag(&mut self, filter: &Expr) -> Option<u64> {
        let text = filter.to_string();
        let index = match self.flags.iter().position(|f| *f == text) {
            Some(i) => i,
            None if self.flags.len() < MAX_FLAGS => {
                self.flags.push(text);
                self.flags.len() - 1
            }
            None => return None,
        };
        Some(1 << index)
    }

    /// The column name of a partial aggregate, added when new.
    fn partial(&mut self, aggregate: String) -> String {
        let index = match self.partials.iter().position(|p| *p == aggregate) {
            Some(i) => i,
            None => {
                self.partials.push(aggregate);
                self.partials.len() - 1
            }
        };
        format!("\"p{index}\"")
    }

    fn column(&mut self, expr: String) -> usize {
        match self.columns.iter().position(|c| *c == expr) {
            Some(i) => i,
            None => {
                self.columns.push(expr);
                self.columns.len() - 1
            }
        }
    }

    /// The whole query: the `group_count` grouping columns `"g0", …`
    /// (selected in phase one by `groups`, each followed by `, `), the
    /// period bucket, then [`Self::columns`] as `"c0", …`.
    pub fn sql(&self, groups: &str, group_count: usize, time: &str, grain: &str, table: &str, window: &str) -> String {
        // Without filters every row has the same mask: no column for it.
        let mask: String = self
            .flags
            .iter()
            .enumerate()
            .map(|(i, f)| format!("CASE WHEN {f} THEN {} ELSE 0 END", 1u64 << i))
            .collect::<Vec<_>>()
            .join(" + ");
        let (mask, keys) = match mask.is_empty() {
            true => (String::new(), group_count + 1),
            false => (format!("{mask} AS \"m\", "), group_count + 2),
        };
        let outer_groups: String = (0..group_count).map(|i| format!("\"g{i}\", ")).collect();
        let positions = |n: usize| (1..=n).map(|i| i.to_string()).collect::<Vec<_>>().join(", ");
        format!(
            "SELECT {outer_groups}CAST(date_trunc('{grain}', \"d\") AS DATE) AS \"bucket\", {columns} FROM (\
             SELECT {groups}CAST({time} AS DATE) AS \"d\", {mask}{partials} FROM {table} \
             WHERE {window} GROUP BY {inner}) GROUP BY {outer}",
            columns = sql::aliased(&self.columns, "c"),
            partials = sql::aliased(&self.partials, "p"),
            inner = positions(keys),
            outer = positions(group_count + 1),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::SqlText;
    use crate::config::source_file::{Location, SourceFile};
    use datafusion::prelude::SessionContext;

    fn def(measure: &str, filter: Option<&str>) -> MeasureDef {
        let location = Location::new(&SourceFile::new("r.toml", ""), 0..0);
        let text = |t: &str| SqlText {
            text: t.into(),
            location: location.clone(),
            object: "kpis.x.measure".into(),
        };
        MeasureDef {
            table: "t".into(),
            table_location: location.clone(),
            measure: text(measure),
            time: Some(("d".into(), location.clone())),
            filter: filter.map(text),
            additive: false,
            stock: false,
        }
    }

    #[test]
    fn aggregates_become_partials_filtered_by_mask_bits() {
        let state = SessionContext::new().state();
        let mut r = Rollup::default();
        assert_eq!(r.measure(&state, &def("SUM(a)", None), None), Some(0));
        assert_eq!(
            r.measure(&state, &def("SUM(a) / COUNT(*)", Some("p = 'x'")), None),
            Some(1)
        );
        assert_eq!(
            r.measure(&state, &def("AVG(a) FILTER (WHERE b > 1)", Some("p = 'x'")), None),
            Some(2)
        );
        assert_eq!(r.measure(&state, &def("SUM(a)", None), None), Some(0), "written once");
        assert_eq!(r.partials, ["SUM(a)", "COUNT(*)", "COUNT(a)"]);
        assert_eq!(r.flags, ["(p = 'x')", "(b > 1)"]);
        assert_eq!(
            r.columns[1],
            "SUM(\"p0\") FILTER (WHERE (\"m\" & 1) = 1) / COALESCE(SUM(\"p1\") FILTER (WHERE (\"m\" & 1) = 1), 0)"
        );
        assert!(r.columns[2].contains("(\"m\" & 3) = 3"), "{}", r.columns[2]);
    }

    #[test]
    fn distinct_and_other_aggregates_do_not_roll_up() {
        let state = SessionContext::new().state();
        let mut r = Rollup::default();
        assert_eq!(r.measure(&state, &def("COUNT(DISTINCT a)", None), None), None);
        assert_eq!(r.measure(&state, &def("median(a)", None), None), None);
        assert_eq!(r.measure(&state, &def("SUM(a) + stddev(b)", None), None), None);
    }
}

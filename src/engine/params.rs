//! Placeholder values: `$period_start`, `$period_end`, `$previous_start` and
//! `$as_of`, always bound as DATE values, never spliced into SQL text.

use std::collections::HashMap;

use chrono::NaiveDate;
use datafusion::common::ParamValues;
use datafusion::common::ScalarValue;

use crate::period::Period;

/// The dates one evaluation binds.
#[derive(Debug, Clone, Copy)]
pub struct Params {
    /// Start of the period.
    pub period_start: NaiveDate,
    /// End of the period: `as_of` + 1 day for a current period `as_of` ends early.
    pub period_end: NaiveDate,
    /// Start of the period before.
    pub previous_start: NaiveDate,
    /// The run's as-of date.
    pub as_of: NaiveDate,
}

impl Params {
    /// The values for `period` at `as_of`.
    pub fn for_period(period: Period, as_of: NaiveDate) -> Self {
        Self {
            period_start: period.start,
            period_end: period.end_at(as_of),
            previous_start: period.previous().start,
            as_of,
        }
    }

    /// Adds the values under the placeholder names with `suffix` appended
    /// (names without the `$`, as DataFusion expects them).
    pub fn insert_into(&self, values: &mut HashMap<String, ScalarValue>, suffix: &str) {
        for (name, date) in [
            ("period_start", self.period_start),
            ("period_end", self.period_end),
            ("previous_start", self.previous_start),
            ("as_of", self.as_of),
        ] {
            values.insert(format!("{name}{suffix}"), date_value(date));
        }
    }
}

/// A DATE scalar.
pub fn date_value(date: NaiveDate) -> ScalarValue {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch");
    ScalarValue::Date32(Some((date - epoch).num_days() as i32))
}

/// A date from DATE32 days since the epoch.
pub fn date_from_days(days: i32) -> NaiveDate {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch");
    epoch + chrono::TimeDelta::days(i64::from(days))
}

/// Named parameter values for DataFusion.
pub fn param_values(values: HashMap<String, ScalarValue>) -> ParamValues {
    ParamValues::Map(values.into_iter().map(|(k, v)| (k, v.into())).collect())
}

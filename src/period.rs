//! Calendar periods: the grain buckets a report is evaluated in.
//!
//! Periods are half-open `[start, end)` date ranges. Weeks are ISO weeks
//! (Monday to Sunday, labelled by ISO year, so 2026-12-31 is in `2026-W53`
//! and 2027-01-04 starts `2027-W01`).

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, Days, Months, NaiveDate};
use serde::Serialize;

/// The size of a period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Grain {
    /// One calendar day.
    Day,
    /// One ISO week, Monday to Sunday.
    Week,
    /// One calendar month.
    Month,
    /// One calendar quarter.
    Quarter,
    /// One calendar year.
    Year,
}

/// Which period a report is about, relative to `as_of`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeriodMode {
    /// The period that contains `as_of`.
    Current,
    /// The period before the one that contains `as_of`.
    LastComplete,
}

/// A grain bucket: `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Period {
    /// The grain the bucket belongs to.
    pub grain: Grain,
    /// First day of the bucket.
    pub start: NaiveDate,
    /// First day after the bucket.
    pub end: NaiveDate,
}

impl Grain {
    /// All grain names, for messages.
    pub const NAMES: [&'static str; 5] = ["day", "week", "month", "quarter", "year"];

    /// The name used in TOML and in DataFusion's `date_trunc`.
    pub fn name(self) -> &'static str {
        match self {
            Grain::Day => "day",
            Grain::Week => "week",
            Grain::Month => "month",
            Grain::Quarter => "quarter",
            Grain::Year => "year",
        }
    }

    /// How many periods back "the same period one year earlier" is; `None`
    /// for day and week grains, which go back 364 days instead so that
    /// weekdays line up.
    fn periods_per_year(self) -> Option<i32> {
        match self {
            Grain::Day | Grain::Week => None,
            Grain::Month => Some(12),
            Grain::Quarter => Some(4),
            Grain::Year => Some(1),
        }
    }
}

impl FromStr for Grain {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Ok(match s {
            "day" => Grain::Day,
            "week" => Grain::Week,
            "month" => Grain::Month,
            "quarter" => Grain::Quarter,
            "year" => Grain::Year,
            _ => return Err(()),
        })
    }
}

impl fmt::Display for Grain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Period {
    /// The bucket of `grain` that contains `date`.
    pub fn containing(grain: Grain, date: NaiveDate) -> Self {
        let start = match grain {
            Grain::Day => date,
            Grain::Week => date - Days::new(u64::from(date.weekday().num_days_from_monday())),
            Grain::Month => date.with_day(1).expect("day 1 exists"),
            Grain::Quarter => {
                let month = (date.month0() / 3) * 3 + 1;
                NaiveDate::from_ymd_opt(date.year(), month, 1).expect("quarter start exists")
            }
            Grain::Year => NaiveDate::from_ymd_opt(date.year(), 1, 1).expect("1 January exists"),
        };
        let end = match grain {
            Grain::Day => start + Days::new(1),
            Grain::Week => start + Days::new(7),
            Grain::Month => start + Months::new(1),
            Grain::Quarter => start + Months::new(3),
            Grain::Year => start + Months::new(12),
        };
        Self { grain, start, end }
    }

    /// The bucket `n` periods later (`n < 0`: earlier).
    pub fn shift(self, n: i32) -> Self {
        let anchor = match self.grain {
            Grain::Day => shift_days(self.start, i64::from(n)),
            Grain::Week => shift_days(self.start, 7 * i64::from(n)),
            Grain::Month => shift_months(self.start, n),
            Grain::Quarter => shift_months(self.start, 3 * n),
            Grain::Year => shift_months(self.start, 12 * n),
        };
        Self::containing(self.grain, anchor)
    }

    /// The period before this one.
    pub fn previous(self) -> Self {
        self.shift(-1)
    }

    /// The same period one year earlier (364 days for day and week grains).
    pub fn year_ago(self) -> Self {
        match self.grain.periods_per_year() {
            Some(n) => self.shift(-n),
            None => Self::containing(self.grain, shift_days(self.start, -364)),
        }
    }

    /// `history` periods ending with this one, oldest first.
    pub fn trailing(self, history: u32) -> Vec<Self> {
        let history = i32::try_from(history).unwrap_or(i32::MAX);
        (0..history).rev().map(|back| self.shift(-back)).collect()
    }

    /// Number of days in the period.
    pub fn days(self) -> i64 {
        (self.end - self.start).num_days()
    }

    /// The human label: `2026-11-03`, `2026-W45`, `2026-11`, `2026-Q4`, `2026`.
    pub fn label(self) -> String {
        let d = self.start;
        match self.grain {
            Grain::Day => d.format("%Y-%m-%d").to_string(),
            Grain::Week => {
                let week = d.iso_week();
                format!("{}-W{:02}", week.year(), week.week())
            }
            Grain::Month => d.format("%Y-%m").to_string(),
            Grain::Quarter => format!("{}-Q{}", d.year(), d.month0() / 3 + 1),
            Grain::Year => d.year().to_string(),
        }
    }

    /// The share of the period's days up to and including `as_of`, in `[0, 1]`.
    pub fn pace(self, as_of: NaiveDate) -> f64 {
        let elapsed = (as_of - self.start).num_days() + 1;
        (elapsed.clamp(0, self.days()) as f64) / self.days() as f64
    }

    /// The end of the rows that count for this period at `as_of`:
    /// `min(end, as_of + 1 day)`.
    pub fn end_at(self, as_of: NaiveDate) -> NaiveDate {
        self.end.min(as_of + Days::new(1))
    }
}

fn shift_days(date: NaiveDate, days: i64) -> NaiveDate {
    date.checked_add_signed(chrono::TimeDelta::days(days))
        .expect("period arithmetic stays within chrono's date range")
}

fn shift_months(date: NaiveDate, months: i32) -> NaiveDate {
    let shifted = if months >= 0 {
        date.checked_add_months(Months::new(months.unsigned_abs()))
    } else {
        date.checked_sub_months(Months::new(months.unsigned_abs()))
    };
    shifted.expect("period arithmetic stays within chrono's date range")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn iso_weeks_cross_year_ends() {
        let p = Period::containing(Grain::Week, d("2026-12-31"));
        assert_eq!((p.start, p.end), (d("2026-12-28"), d("2027-01-04")));
        assert_eq!(p.label(), "2026-W53");
        assert_eq!(p.shift(1).label(), "2027-W01");
        let p = Period::containing(Grain::Week, d("2027-01-01"));
        assert_eq!(p.label(), "2026-W53");
        let p = Period::containing(Grain::Week, d("2025-12-29"));
        assert_eq!(p.label(), "2026-W01");
        assert_eq!(p.previous().label(), "2025-W52");
    }

    #[test]
    fn quarters_months_and_years() {
        let q = Period::containing(Grain::Quarter, d("2026-11-15"));
        assert_eq!(
            (q.start, q.end, q.label()),
            (d("2026-10-01"), d("2027-01-01"), "2026-Q4".into())
        );
        assert_eq!(q.previous().label(), "2026-Q3");
        assert_eq!(q.year_ago().label(), "2025-Q4");
        let m = Period::containing(Grain::Month, d("2026-01-31"));
        assert_eq!(m.previous().label(), "2025-12");
        assert_eq!(m.year_ago().label(), "2025-01");
        assert_eq!(Period::containing(Grain::Year, d("2026-06-01")).label(), "2026");
    }

    #[test]
    fn leap_days() {
        let feb = Period::containing(Grain::Month, d("2024-02-29"));
        assert_eq!(feb.days(), 29);
        assert_eq!(feb.pace(d("2024-02-29")), 1.0);
        let day = Period::containing(Grain::Day, d("2024-02-29"));
        assert_eq!(day.year_ago().label(), "2023-03-02");
        assert_eq!(
            Period::containing(Grain::Day, d("2024-03-01")).previous().label(),
            "2024-02-29"
        );
        let year = Period::containing(Grain::Year, d("2024-07-01"));
        assert_eq!(year.days(), 366);
    }

    #[test]
    fn pace_counts_as_of_and_stops_at_one() {
        let nov = Period::containing(Grain::Month, d("2026-11-15"));
        assert_eq!(nov.pace(d("2026-11-15")), 0.5);
        assert_eq!(nov.pace(d("2026-12-10")), 1.0);
        assert_eq!(nov.end_at(d("2026-11-15")), d("2026-11-16"));
        assert_eq!(nov.end_at(d("2026-12-10")), d("2026-12-01"));
    }

    #[test]
    fn trailing_is_oldest_first() {
        let labels: Vec<_> = Period::containing(Grain::Month, d("2026-02-10"))
            .trailing(3)
            .into_iter()
            .map(Period::label)
            .collect();
        assert_eq!(labels, ["2025-12", "2026-01", "2026-02"]);
    }
}

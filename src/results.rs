//! The shape of `results.json` (SPEC §4): what renderers, mailers and CI
//! jobs read. Field order here is the order in the file.

use chrono::NaiveDate;
use indexmap::IndexMap;
use serde::Serialize;

use crate::config::model::{Better, ValueFormat};
use crate::period::{Grain, Period};

/// The version of this shape; bumped on incompatible changes.
pub const SCHEMA_VERSION: u32 = 1;

/// Everything one report run computed.
#[derive(Debug, Clone, Serialize)]
pub struct Results {
    /// Always [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The report id.
    pub report: String,
    /// The report title.
    pub title: String,
    /// The report description, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The date the run is as of.
    pub as_of: NaiveDate,
    /// The report's current period.
    pub period: PeriodJson,
    /// The period before it.
    pub previous_period: PeriodRef,
    /// KPI results in display order.
    pub kpis: IndexMap<String, KpiResult>,
    /// Breakdowns by id.
    pub breakdowns: IndexMap<String, serde_json::Value>,
    /// Funnels by id.
    pub funnels: IndexMap<String, serde_json::Value>,
    /// Tables by id.
    pub tables: IndexMap<String, serde_json::Value>,
    /// Firing and resolved alerts.
    pub alerts: Vec<crate::alerts::state::AlertEntry>,
}

/// A period with its grain.
#[derive(Debug, Clone, Serialize)]
pub struct PeriodJson {
    /// Its grain.
    pub grain: Grain,
    /// `2026-11`, `2026-W45`, …
    pub label: String,
    /// First day.
    pub start: NaiveDate,
    /// First day after.
    pub end: NaiveDate,
}

/// A period without its grain (the report's previous period).
#[derive(Debug, Clone, Serialize)]
pub struct PeriodRef {
    /// Its label.
    pub label: String,
    /// First day.
    pub start: NaiveDate,
    /// First day after.
    pub end: NaiveDate,
}

impl From<Period> for PeriodJson {
    fn from(p: Period) -> Self {
        Self {
            grain: p.grain,
            label: p.label(),
            start: p.start,
            end: p.end,
        }
    }
}

impl From<Period> for PeriodRef {
    fn from(p: Period) -> Self {
        Self {
            label: p.label(),
            start: p.start,
            end: p.end,
        }
    }
}

pub use crate::engine::fields::Fields;

/// How a value compares with its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Target met.
    Good,
    /// Missed, but attainment at or above `warn_at`.
    Warn,
    /// Missed.
    Bad,
    /// No value or no target.
    None,
}

/// One KPI's numbers for the current period.
#[derive(Debug, Clone, Serialize)]
pub struct KpiResult {
    /// Display name.
    pub label: String,
    /// Display format.
    pub format: ValueFormat,
    /// Unit shown with the value.
    pub unit: Option<String>,
    /// Digits after the decimal point, when set.
    pub decimals: Option<u32>,
    /// Good direction.
    pub better: Better,
    /// The KPI's period (its own grain's, if it has one).
    pub period: PeriodJson,
    /// value, previous, delta, … zscore.
    #[serde(flatten)]
    pub fields: Fields,
    /// One point per period, oldest first.
    pub trend: Vec<TrendPoint>,
    /// The change split by drivers, for KPIs with `drivers`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explain: Option<Explain>,
}

/// One period of a trend.
#[derive(Debug, Clone, Serialize)]
pub struct TrendPoint {
    /// The period label.
    pub period: String,
    /// The value in that period.
    pub value: Option<f64>,
    /// The target in that period.
    pub target: Option<f64>,
}

/// A KPI's change split into its drivers' shares (LMDI).
#[derive(Debug, Clone, Serialize)]
pub struct Explain {
    /// Against the previous period.
    pub vs_previous: Vec<Contribution>,
    /// Against the drivers' targets (empty unless every driver has one).
    pub vs_target: Vec<Contribution>,
    /// The product of the drivers' targets: the base of `vs_target`.
    pub target_base: Option<f64>,
    /// value − this KPI's own target.
    pub target_gap: Option<f64>,
    /// value − the product of the drivers' values (~0 when they are right).
    pub residual: Option<f64>,
}

/// One driver's share of a change.
#[derive(Debug, Clone, Serialize)]
pub struct Contribution {
    /// The driver KPI.
    pub kpi: String,
    /// Its value in the base (previous period, or its target).
    pub base: Option<f64>,
    /// Its current value.
    pub value: Option<f64>,
    /// Its share of the KPI's change.
    pub contribution: Option<f64>,
}

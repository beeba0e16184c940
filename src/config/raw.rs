//! The TOML format as serde structs, exactly as written by users.
//!
//! Nothing here is checked beyond TOML types; [`super::validate`] turns these
//! into the checked model. Values that later checks must point at are kept
//! [`Spanned`]. Every struct denies unknown keys; the loader also walks each
//! table first so that *all* unknown keys are reported, not just the first.

use std::ops::Range;

use indexmap::IndexMap;
use serde::Deserialize;
use toml::Spanned;
use toml::value::Datetime;

/// One `[section.<id>]` entry, with where its id was written.
#[derive(Debug)]
pub struct Entry<T> {
    /// The id, e.g. `revenue` in `[kpis.revenue]`.
    pub id: String,
    /// Where the id is written.
    pub id_span: Range<usize>,
    /// The entry's settings.
    pub value: T,
}

/// The `sources` and `views` both file kinds may hold.
#[derive(Debug, Default)]
pub struct RawTables {
    /// Data sources, by id.
    pub sources: Vec<Entry<RawSource>>,
    /// SQL views, by id.
    pub views: Vec<Entry<RawView>>,
    /// Every source and view id written, including rejected ones, so
    /// references to them are not reported a second time.
    pub declared: Vec<String>,
}

/// `warroom.toml`: what every report of the project shares.
#[derive(Debug, Default)]
pub struct RawProjectFile {
    /// Shared sources and views.
    pub catalog: RawTables,
    /// Query engine settings.
    pub engine: Option<RawEngine>,
    /// The mail server.
    pub smtp: Option<RawSmtp>,
    /// What `warroom watch` watches and how long it waits.
    pub watch: Option<RawWatch>,
}

impl RawProjectFile {
    /// The top-level keys `warroom.toml` may hold.
    pub const KEYS: &[&str] = &["sources", "views", "engine", "smtp", "watch"];
}

/// `reports/<id>.toml`: one report.
#[derive(Debug, Default)]
pub struct RawReportFile {
    /// Title, grain, history and the other report-wide settings.
    pub report: Option<Spanned<RawReport>>,
    /// Sources and views only this report sees.
    pub catalog: RawTables,
    /// The report's KPIs, by id, in display order.
    pub kpis: Vec<Entry<RawKpi>>,
    /// KPIs split by the values of columns (per rep, per product).
    pub breakdowns: Vec<Entry<RawBreakdown>>,
    /// Stage-by-stage cohorts.
    pub funnels: Vec<Entry<RawFunnel>>,
    /// Free SQL tables.
    pub tables: Vec<Entry<RawTable>>,
    /// Rules that flag what needs attention.
    pub alerts: Vec<Entry<RawAlert>>,
    /// Who gets the report by mail, and when.
    pub email: Option<RawEmail>,
    /// Every KPI id written, including those whose settings did not parse,
    /// so references to them are not reported as unknown as well.
    pub declared_kpis: Vec<String>,
}

impl RawReportFile {
    /// The top-level keys a report file may hold.
    pub const KEYS: &[&str] = &[
        "report",
        "sources",
        "views",
        "kpis",
        "breakdowns",
        "funnels",
        "tables",
        "alerts",
        "email",
    ];
}

/// `[engine]`: how DataFusion runs.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEngine {
    /// Memory pool size, e.g. `"2GB"`; queries spill to disk beyond it.
    pub memory_limit: Option<Spanned<String>>,
}

/// `[watch]`: how `warroom watch` notices landed data.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWatch {
    /// Folders or files to watch, relative to the project; default: the
    /// folder of every source.
    pub paths: Option<Vec<Spanned<String>>>,
    /// How long a file's size and mtime must stay the same before it counts,
    /// and how long the folders must be quiet before a run starts.
    pub debounce_ms: Option<Spanned<i64>>,
    /// The longest a landed change waits for quiet before a run starts anyway.
    pub max_wait_ms: Option<Spanned<i64>>,
}

/// `[sources.<id>]`: files DataFusion reads as one table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSource {
    /// A file, a directory or a glob, relative to the project root.
    pub path: Spanned<String>,
    /// `csv` or `parquet`; default: from the file extension.
    #[serde(rename = "type")]
    pub kind: Option<Spanned<String>>,
    /// CSV reading options.
    pub csv: Option<RawCsvOptions>,
}

/// `[sources.<id>.csv]`: how to read CSV files.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCsvOptions {
    /// Field separator, one character; default `,`.
    pub delimiter: Option<Spanned<String>>,
    /// Whether the first line names the columns; default true.
    pub header: Option<bool>,
    /// The text that stands for a missing value; default: empty field.
    pub null_value: Option<String>,
    /// Column types to use instead of inferring them, as SQL type names.
    pub schema: Option<IndexMap<String, Spanned<String>>>,
}

/// `[views.<id>]`: a named SQL query over sources and other views.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawView {
    /// The `SELECT` statement.
    pub sql: Spanned<String>,
}

/// `[report]`: the report's title and period.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawReport {
    /// Shown as the heading; default: the report id.
    pub title: Option<String>,
    /// A line under the title.
    pub description: Option<String>,
    /// `day`, `week`, `month` (default), `quarter` or `year`.
    pub grain: Option<Spanned<String>>,
    /// Periods in each trend, the current one included; default 12.
    pub history: Option<Spanned<i64>>,
    /// `current` (default) or `last_complete`.
    pub period: Option<Spanned<String>>,
    /// The date the report is as of; default: from the data.
    pub as_of: Option<Spanned<Datetime>>,
    /// Rendered formats besides results.json: `html`, `md`.
    pub formats: Option<Vec<Spanned<String>>>,
    /// A template name in `templates/`; default: built-in.
    pub template: Option<String>,
}

/// `[kpis.<id>]`: one number per period.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKpi {
    /// Display name; default: the id.
    pub label: Option<String>,
    /// The source or view the measure reads.
    pub source: Option<Spanned<String>>,
    /// A SQL aggregate expression, e.g. `SUM(amount)`.
    pub measure: Option<Spanned<String>>,
    /// The date or timestamp column that places a row in a period.
    pub time: Option<Spanned<String>>,
    /// A SQL predicate that selects the rows to aggregate.
    pub filter: Option<Spanned<String>>,
    /// Arithmetic over other KPIs, instead of `source`/`measure`.
    pub expr: Option<Spanned<String>>,
    /// `number` (default), `integer`, `percent`, `currency`, `days` or `hours`.
    pub format: Option<Spanned<String>>,
    /// Shown with the value, e.g. `NT$`.
    pub unit: Option<String>,
    /// Digits after the decimal point.
    pub decimals: Option<Spanned<i64>>,
    /// `higher` (default) or `lower`.
    pub better: Option<Spanned<String>>,
    /// Attainment at or above which a miss is a warning rather than bad.
    pub warn_at: Option<Spanned<f64>>,
    /// A number for every period, or a measure over a target table.
    pub target: Option<Spanned<RawTarget>>,
    /// This KPI's own grain; default: the report's.
    pub grain: Option<Spanned<String>>,
    /// KPIs whose product equals this one, for explaining its change.
    pub drivers: Option<Vec<Spanned<String>>>,
}

/// A KPI's `target`: a number, or a table giving one per period.
#[derive(Debug)]
pub enum RawTarget {
    /// The same target for every period.
    Fixed(f64),
    /// A measure over a target source, bucketed like the KPI.
    Measure(RawTargetMeasure),
}

/// `[kpis.<id>.target]` written as a table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTargetMeasure {
    /// The source or view holding targets.
    pub source: Spanned<String>,
    /// A SQL aggregate expression, e.g. `SUM(target)`.
    pub measure: Spanned<String>,
    /// The date or timestamp column that places a target in a period.
    pub time: Spanned<String>,
    /// A SQL predicate that selects the target rows.
    pub filter: Option<Spanned<String>>,
}

impl<'de> Deserialize<'de> for RawTarget {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TargetVisitor;
        impl<'de> serde::de::Visitor<'de> for TargetVisitor {
            type Value = RawTarget;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a number or a table with source, measure and time")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<RawTarget, E> {
                Ok(RawTarget::Fixed(v as f64))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<RawTarget, E> {
                Ok(RawTarget::Fixed(v as f64))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<RawTarget, E> {
                Ok(RawTarget::Fixed(v))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<RawTarget, A::Error> {
                let de = serde::de::value::MapAccessDeserializer::new(map);
                RawTargetMeasure::deserialize(de).map(RawTarget::Measure)
            }
        }
        deserializer.deserialize_any(TargetVisitor)
    }
}

/// `[breakdowns.<id>]`: KPIs per value of some columns.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBreakdown {
    /// Heading; default: the id.
    pub title: Option<String>,
    /// KPI ids, all of one grain.
    pub kpis: Vec<Spanned<String>>,
    /// Columns present in every listed KPI's source.
    pub by: Vec<Spanned<String>>,
    /// A KPI id or `kpi.field`, `-` first for descending.
    pub sort: Option<Spanned<String>>,
    /// Rows kept after sorting.
    pub limit: Option<Spanned<i64>>,
    /// Whether each row gets a trend and a zscore.
    pub trend: Option<bool>,
    /// Per-row targets by KPI id, joined on `by`.
    pub targets: Option<IndexMap<String, Spanned<RawTargetMeasure>>>,
}

/// `[funnels.<id>]`: a cohort through stages.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFunnel {
    /// Heading; default: the id.
    pub title: Option<String>,
    /// The source or view holding the cohort.
    pub source: Spanned<String>,
    /// The column whose value in the current period puts a row in the cohort.
    pub time: Spanned<String>,
    /// The aggregate counted at each stage; default `COUNT(*)`.
    pub count: Option<Spanned<String>>,
    /// An optional money aggregate at each stage, e.g. `SUM(amount)`.
    pub value: Option<Spanned<String>>,
    /// The stages, widest first.
    pub stages: Vec<Spanned<RawStage>>,
}

/// One funnel stage.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStage {
    /// The stage id, used by alerts (`stages.<id>`).
    pub id: Spanned<String>,
    /// Display name; default: the id.
    pub label: Option<String>,
    /// The rows of the cohort that reached this stage.
    pub filter: Spanned<String>,
}

/// `[tables.<id>]`: a SQL query shown as a table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTable {
    /// Heading; default: the id.
    pub title: Option<String>,
    /// The `SELECT` query; placeholders allowed.
    pub sql: Spanned<String>,
    /// Rows kept; default 1000.
    pub max_rows: Option<Spanned<i64>>,
}

/// `[alerts.<id>]`: a rule over a KPI, a breakdown's rows or a funnel.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAlert {
    /// The KPI whose fields `when` sees.
    pub kpi: Option<Spanned<String>>,
    /// The breakdown whose rows `when` sees, one at a time.
    pub breakdown: Option<Spanned<String>>,
    /// The funnel whose `stages` `when` sees.
    pub funnel: Option<Spanned<String>>,
    /// A minijinja expression; the alert fires when it is true.
    pub when: Spanned<String>,
    /// `info`, `warning` (default) or `critical`.
    pub severity: Option<Spanned<String>>,
    /// A minijinja template for the alert's text.
    pub message: Option<Spanned<String>>,
}

/// `[smtp]` in warroom.toml: how mail leaves.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSmtp {
    /// The server's host name.
    pub host: Spanned<String>,
    /// The port; default by `tls`: 587, 465 or 25.
    pub port: Option<Spanned<i64>>,
    /// `starttls` (default), `tls` or `none`.
    pub tls: Option<Spanned<String>>,
    /// The login, if the server wants one.
    pub username: Option<String>,
    /// The environment variable holding the password (never the password).
    pub password_env: Option<Spanned<String>>,
    /// The sender, e.g. `War Room <reports@example.com>`.
    pub from: Spanned<String>,
    /// Seconds to wait for each SMTP command; default 30.
    pub timeout_s: Option<Spanned<i64>>,
}

/// `[email]` in a report: who gets it and when.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEmail {
    /// Recipients.
    pub to: Vec<Spanned<String>>,
    /// Copies.
    pub cc: Option<Vec<Spanned<String>>>,
    /// Blind copies.
    pub bcc: Option<Vec<Spanned<String>>>,
    /// A minijinja template over the results.
    pub subject: Option<Spanned<String>>,
    /// `on_update` (default), `always`, `on_alert` or `on_change`.
    pub send: Option<Spanned<String>>,
    /// The least severity `on_alert` and `on_change` count; default warning.
    pub min_severity: Option<Spanned<String>>,
    /// Attachments: any of `md`, `html`, `json`, `csv`.
    pub attach: Option<Vec<Spanned<String>>>,
}

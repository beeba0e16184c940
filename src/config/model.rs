//! The checked project: what the engine evaluates. Built by
//! [`super::validate`] from the raw TOML; every id referenced here exists,
//! every enum value is known, derived KPIs form no cycle.

use std::path::PathBuf;
use std::time::Duration;

use chrono::NaiveDate;
use indexmap::IndexMap;

use super::source_file::Location;
use crate::engine::derived::DerivedExpr;
use crate::period::{Grain, PeriodMode};

/// A whole project: shared tables, engine settings and every report.
#[derive(Debug)]
pub struct Project {
    /// The project folder; relative paths in TOML are relative to it.
    pub root: PathBuf,
    /// Sources and views of `warroom.toml`, visible to every report.
    pub tables: IndexMap<String, TableDef>,
    /// `[engine]` settings.
    pub engine: EngineConfig,
    /// `[smtp]`, when the project sends mail.
    pub smtp: Option<SmtpConfig>,
    /// `[watch]` settings.
    pub watch: WatchConfig,
    /// Reports by id (the file stem), in file-name order.
    pub reports: IndexMap<String, Report>,
}

/// `[engine]` settings.
#[derive(Debug, Clone, Default)]
pub struct EngineConfig {
    /// Memory pool size in bytes; unlimited when `None`.
    pub memory_limit: Option<usize>,
}

/// `[watch]` settings.
#[derive(Debug, Clone, PartialEq)]
pub struct WatchConfig {
    /// Folders or files watched for data, relative to the project root;
    /// `None`: the folder of every source.
    pub paths: Option<Vec<PathBuf>>,
    /// How long a file must stay unchanged to count as landed, and how long
    /// the folders must be quiet before a run.
    pub debounce: Duration,
    /// The longest a landed change waits for quiet before a run anyway.
    pub max_wait: Duration,
}

impl Default for WatchConfig {
    fn default() -> Self {
        Self {
            paths: None,
            debounce: Duration::from_millis(1500),
            max_wait: Duration::from_millis(10_000),
        }
    }
}

/// A source or a view: something SQL can select from.
#[derive(Debug, Clone)]
pub struct TableDef {
    /// The table name SQL uses.
    pub id: String,
    /// `sources.<id>` or `views.<id>`, for messages.
    pub object: String,
    /// Where the id is written.
    pub location: Location,
    /// Files or a query.
    pub kind: TableKind,
}

/// What a table is made of.
#[derive(Debug, Clone)]
pub enum TableKind {
    /// Data files.
    Source(SourceDef),
    /// A SQL query over other tables.
    View(SqlText),
}

/// Data files read as one table.
#[derive(Debug, Clone)]
pub struct SourceDef {
    /// File, directory or glob as written, relative to the project root.
    pub path: String,
    /// Where `path` is written.
    pub path_location: Location,
    /// How the files are encoded.
    pub format: FileFormat,
    /// CSV options (ignored for Parquet).
    pub csv: CsvOptions,
}

/// The encoding of a source's files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    /// Comma (or otherwise) separated text.
    Csv,
    /// Apache Parquet.
    Parquet,
}

impl FileFormat {
    /// The usual file extension.
    pub fn extension(self) -> &'static str {
        match self {
            FileFormat::Csv => "csv",
            FileFormat::Parquet => "parquet",
        }
    }
}

/// How CSV files are read.
#[derive(Debug, Clone)]
pub struct CsvOptions {
    /// Field separator.
    pub delimiter: u8,
    /// Whether the first line holds column names.
    pub header: bool,
    /// Text read as NULL (besides the empty field).
    pub null_value: Option<String>,
    /// Pinned column types: column, SQL type name, where it is written.
    pub schema: Vec<(String, String, Location)>,
}

impl Default for CsvOptions {
    fn default() -> Self {
        Self {
            delimiter: b',',
            header: true,
            null_value: None,
            schema: Vec::new(),
        }
    }
}

/// A SQL text from the TOML, with where it is written so that errors
/// inside it can point at the right column.
#[derive(Debug, Clone)]
pub struct SqlText {
    /// The SQL as the user wrote it.
    pub text: String,
    /// Where the string value is written.
    pub location: Location,
    /// `kpis.revenue.measure` and the like.
    pub object: String,
}

/// Output formats besides results.json.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// report.html
    Html,
    /// report.md
    Markdown,
}

/// One report file.
#[derive(Debug)]
pub struct Report {
    /// The file stem.
    pub id: String,
    /// Where `[report]` is written (or the file's start).
    pub location: Location,
    /// Heading of the report.
    pub title: String,
    /// A line under the title.
    pub description: Option<String>,
    /// The report's grain.
    pub grain: Grain,
    /// Periods in each trend, current included.
    pub history: u32,
    /// Current or last complete period.
    pub period: PeriodMode,
    /// A fixed as-of date, unless given on the command line.
    pub as_of: Option<NaiveDate>,
    /// Rendered formats.
    pub formats: Vec<OutputFormat>,
    /// A user template name.
    pub template: Option<String>,
    /// Sources and views only this report sees.
    pub tables: IndexMap<String, TableDef>,
    /// KPIs in display order.
    pub kpis: IndexMap<String, Kpi>,
    /// Breakdowns in display order.
    pub breakdowns: IndexMap<String, Breakdown>,
    /// Funnels in display order.
    pub funnels: IndexMap<String, Funnel>,
    /// SQL tables in display order.
    pub table_queries: IndexMap<String, TableQuery>,
    /// Alert rules.
    pub alerts: IndexMap<String, Alert>,
    /// `[email]`: recipients and send policy.
    pub email: Option<EmailConfig>,
    /// Whether a problem was found in this report's definitions (or the
    /// shared ones): `run` skips it, `check` still plans its good parts.
    pub broken: bool,
}

/// How a KPI's value is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ValueFormat {
    /// 1,234.5
    Number,
    /// 1,235
    Integer,
    /// 12.3%
    Percent,
    /// NT$ 1,235
    Currency,
    /// 12.5 days
    Days,
    /// 3.2 h
    Hours,
}

impl ValueFormat {
    /// All format names, for messages.
    pub const NAMES: [&'static str; 6] = ["number", "integer", "percent", "currency", "days", "hours"];

    /// Parses a TOML format name.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "number" => Self::Number,
            "integer" => Self::Integer,
            "percent" => Self::Percent,
            "currency" => Self::Currency,
            "days" => Self::Days,
            "hours" => Self::Hours,
            _ => return None,
        })
    }
}

/// Which direction is good.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Better {
    /// More is better (revenue).
    Higher,
    /// Less is better (complaints, cycle days).
    Lower,
}

/// One KPI of a report.
#[derive(Debug, Clone)]
pub struct Kpi {
    /// The id.
    pub id: String,
    /// `kpis.<id>`.
    pub object: String,
    /// Where the id is written.
    pub location: Location,
    /// Display name.
    pub label: String,
    /// The grain it is evaluated in (its own or the report's).
    pub grain: Grain,
    /// Whether `grain` was written on the KPI.
    pub own_grain: bool,
    /// How its value is computed.
    pub def: KpiDef,
    /// Display format.
    pub format: ValueFormat,
    /// Unit shown with the value.
    pub unit: Option<String>,
    /// Digits after the decimal point.
    pub decimals: Option<u32>,
    /// Good direction.
    pub better: Better,
    /// Attainment from which a miss is a warning.
    pub warn_at: Option<f64>,
    /// The target, if any.
    pub target: Option<TargetDef>,
    /// KPIs whose product is this KPI.
    pub drivers: Vec<String>,
}

/// How a KPI is computed.
#[derive(Debug, Clone)]
pub enum KpiDef {
    /// A SQL aggregate over a table.
    Measure(Box<MeasureDef>),
    /// Arithmetic over other KPIs of the same grain.
    Derived(DerivedExpr),
}

/// A SQL aggregate over a table, bucketed by a time column or evaluated per
/// period as a stock.
#[derive(Debug, Clone)]
pub struct MeasureDef {
    /// The table read.
    pub table: String,
    /// Where the table id is written.
    pub table_location: Location,
    /// The aggregate expression.
    pub measure: SqlText,
    /// The time column and where it is written; `None` only for stocks.
    pub time: Option<(String, Location)>,
    /// Row predicate.
    pub filter: Option<SqlText>,
    /// An outermost `SUM`/`COUNT`: an empty period is 0 and can be projected.
    pub additive: bool,
    /// Uses `$period_start`/`$period_end`: evaluated once per period.
    pub stock: bool,
}

/// A KPI target.
#[derive(Debug, Clone)]
pub enum TargetDef {
    /// The same number every period.
    Fixed(f64),
    /// A measure over a target table, one value per period.
    Measure(Box<MeasureDef>),
}

/// A breakdown: KPIs per value of some columns.
#[derive(Debug, Clone)]
pub struct Breakdown {
    /// The id.
    pub id: String,
    /// Heading.
    pub title: String,
    /// KPI ids, all of one grain.
    pub kpis: Vec<String>,
    /// Grouping columns.
    pub by: Vec<String>,
    /// Row order.
    pub sort: Option<SortKey>,
    /// Rows kept after sorting.
    pub limit: Option<usize>,
    /// Whether rows get a trend and a zscore.
    pub trend: bool,
    /// Per-row targets by KPI id.
    pub targets: IndexMap<String, MeasureDef>,
    /// Where the id is written.
    pub location: Location,
}

/// How breakdown rows are sorted.
#[derive(Debug, Clone, PartialEq)]
pub struct SortKey {
    /// The KPI sorted on.
    pub kpi: String,
    /// Its field: `value`, `previous`, `delta_pct`, …
    pub field: String,
    /// Largest first.
    pub descending: bool,
}

/// The fields of a breakdown row's KPI that `sort` and alerts can use.
pub const ROW_FIELDS: [&str; 9] = [
    "value",
    "previous",
    "delta_pct",
    "share",
    "target",
    "attainment",
    "status",
    "zscore",
    "trend",
];

/// A funnel: the period's cohort through stages.
#[derive(Debug, Clone)]
pub struct Funnel {
    /// The id.
    pub id: String,
    /// Heading.
    pub title: String,
    /// The table read.
    pub table: String,
    /// The cohort's time column.
    pub time: (String, Location),
    /// The aggregate counted at each stage.
    pub count: SqlText,
    /// The money aggregate at each stage.
    pub value: Option<SqlText>,
    /// The stages.
    pub stages: Vec<Stage>,
}

/// One funnel stage.
#[derive(Debug, Clone)]
pub struct Stage {
    /// The id.
    pub id: String,
    /// Display name.
    pub label: String,
    /// The rows that reached the stage.
    pub filter: SqlText,
}

/// A SQL query shown as a table.
#[derive(Debug, Clone)]
pub struct TableQuery {
    /// The id.
    pub id: String,
    /// Heading.
    pub title: String,
    /// The query.
    pub sql: SqlText,
    /// Rows kept.
    pub max_rows: usize,
}

/// How urgent an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// For information.
    Info,
    /// Needs a look.
    Warning,
    /// Needs action now.
    Critical,
}

impl Severity {
    /// All names, least severe first.
    pub const NAMES: [&'static str; 3] = ["info", "warning", "critical"];

    /// The name used in TOML and results.json.
    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    /// Parses a severity name.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "info" => Self::Info,
            "warning" => Self::Warning,
            "critical" => Self::Critical,
            _ => return None,
        })
    }
}

/// What an alert looks at.
#[derive(Debug, Clone, PartialEq)]
pub enum AlertSubject {
    /// A KPI's fields.
    Kpi(String),
    /// Each row of a breakdown.
    Breakdown(String),
    /// A funnel's stages.
    Funnel(String),
}

/// An alert rule.
#[derive(Debug, Clone)]
pub struct Alert {
    /// The id.
    pub id: String,
    /// What `when` sees.
    pub subject: AlertSubject,
    /// The condition, a minijinja expression.
    pub when: SqlText,
    /// How urgent.
    pub severity: Severity,
    /// The text template; default: the id.
    pub message: Option<SqlText>,
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain connection upgraded with STARTTLS (required).
    StartTls,
    /// TLS from the first byte (SMTPS).
    Tls,
    /// No encryption (a local relay).
    None,
}

/// `[smtp]`, checked.
#[derive(Debug, Clone)]
pub struct SmtpConfig {
    /// Server host.
    pub host: String,
    /// Server port.
    pub port: u16,
    /// Connection security.
    pub tls: TlsMode,
    /// Login name.
    pub username: Option<String>,
    /// Environment variable with the password.
    pub password_env: Option<String>,
    /// Sender mailbox.
    pub from: String,
    /// Per-command timeout.
    pub timeout: std::time::Duration,
}

/// When a report is mailed (SPEC §2.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendPolicy {
    /// When the results fingerprint differs from the last one mailed.
    OnUpdate,
    /// On every run.
    Always,
    /// `on_update`, while an alert at or above `min_severity` fires.
    OnAlert,
    /// When the set of firing instances at or above `min_severity` changes.
    OnChange,
}

/// Files attached to a report's mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attachment {
    /// report.md
    Markdown,
    /// report.html
    Html,
    /// results.json
    Json,
    /// One CSV per breakdown and table.
    Csv,
}

/// `[email]`, checked.
#[derive(Debug, Clone)]
pub struct EmailConfig {
    /// Recipients.
    pub to: Vec<String>,
    /// Copies.
    pub cc: Vec<String>,
    /// Blind copies.
    pub bcc: Vec<String>,
    /// The subject template.
    pub subject: SqlText,
    /// When to mail.
    pub send: SendPolicy,
    /// Least severity that counts for `on_alert` / `on_change`.
    pub min_severity: Severity,
    /// Attachments.
    pub attach: Vec<Attachment>,
}

//! Turning the raw TOML model into the checked [`Project`].
//!
//! Every check runs on every object and records its problem instead of
//! stopping, so one `warroom check` lists them all. An object that fails is
//! left out of the checked model; a report with any problem is marked broken
//! so `run` skips it, while `check` still plans the SQL of its good objects.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;
use indexmap::IndexMap;
use toml::Spanned;

use super::diagnostic::{Diagnostics, suggestion};
use super::load::LoadedProject;
use super::model::{
    Alert, AlertSubject, Attachment, Better, Breakdown, CsvOptions, EmailConfig, EngineConfig, FileFormat, Funnel, Kpi,
    KpiDef, MeasureDef, OutputFormat, Project, ROW_FIELDS, Report, SendPolicy, Severity, SmtpConfig, SortKey,
    SourceDef, SqlText, Stage, TableDef, TableKind, TableQuery, TargetDef, TlsMode, ValueFormat, WatchConfig,
};
use super::raw::{
    Entry, RawAlert, RawBreakdown, RawEmail, RawFunnel, RawKpi, RawReport, RawSmtp, RawSource, RawTable, RawTables,
    RawTarget, RawTargetMeasure, RawWatch,
};
use super::source_file::{Location, SourceFile};
use crate::engine::derived::DerivedExpr;
use crate::engine::sql::{self, PLACEHOLDERS};
use crate::period::{Grain, PeriodMode};

/// Checks everything that can be checked without reading data.
pub fn validate(root: &Path, loaded: LoadedProject, diags: &mut Diagnostics) -> Project {
    let before = diags.error_count();
    let mut shared = IndexMap::new();
    let mut engine = EngineConfig::default();
    if let Some(project) = &loaded.project {
        let mut v = Validator {
            root,
            file: &project.file,
            diags,
            rejected_tables: HashSet::new(),
        };
        v.tables(&project.raw.catalog, None, &mut shared);
        if let Some(raw) = &project.raw.engine
            && let Some(limit) = &raw.memory_limit
        {
            match parse_size(limit.get_ref()) {
                Some(bytes) => engine.memory_limit = Some(bytes),
                None => v.error(
                    limit.span(),
                    "engine.memory_limit",
                    format!(
                        "`{}` is not a size; write it like \"512MB\" or \"2GB\"",
                        limit.get_ref()
                    ),
                ),
            }
        }
    }
    let smtp = loaded.project.as_ref().and_then(|project| {
        let raw = project.raw.smtp.as_ref()?;
        let mut v = Validator {
            root,
            file: &project.file,
            diags,
            rejected_tables: HashSet::new(),
        };
        v.smtp(raw)
    });
    let watch = loaded.project.as_ref().map_or_else(WatchConfig::default, |project| {
        let mut v = Validator {
            root,
            file: &project.file,
            diags,
            rejected_tables: HashSet::new(),
        };
        project
            .raw
            .watch
            .as_ref()
            .map_or_else(WatchConfig::default, |raw| v.watch(raw))
    });
    let shared_broken = diags.error_count() > before;
    let shared_rejected = shared_rejected_ids(&loaded, &shared);
    let mut reports = IndexMap::new();
    for (id, report) in loaded.reports {
        let before = diags.error_count();
        let mut v = Validator {
            root,
            file: &report.file,
            diags,
            rejected_tables: shared_rejected.clone(),
        };
        let mut checked = v.report(&id, &report.raw.report, &shared);
        v.tables(&report.raw.catalog, Some(&shared), &mut checked.tables);
        v.rejected_tables.extend(
            report
                .raw
                .catalog
                .declared
                .iter()
                .filter(|id| !checked.tables.contains_key(*id))
                .cloned(),
        );
        v.kpis(&report.raw.kpis, &report.raw.declared_kpis, &shared, &mut checked);
        v.breakdowns(&report.raw.breakdowns, &report.raw.declared_kpis, &shared, &mut checked);
        v.funnels(&report.raw.funnels, &shared, &mut checked);
        v.table_queries(&report.raw.tables, &mut checked);
        v.alerts(&report.raw.alerts, &mut checked);
        if let Some(email) = &report.raw.email {
            checked.email = v.email(email);
        }
        // Problems found while loading the file were recorded before this
        // loop; the file is broken if any of them points into it.
        let load_errors = diags
            .iter()
            .any(|d| d.is_error() && d.location.as_ref().is_some_and(|l| Arc::ptr_eq(&l.file, &report.file)));
        checked.broken = shared_broken || load_errors || diags.error_count() > before;
        reports.insert(id, checked);
    }
    Project {
        root: root.to_path_buf(),
        tables: shared,
        engine,
        smtp,
        watch,
        reports,
    }
}

/// Ids written in warroom.toml that did not make it into the checked tables.
fn shared_rejected_ids(loaded: &LoadedProject, shared: &IndexMap<String, TableDef>) -> HashSet<String> {
    let Some(project) = &loaded.project else {
        return HashSet::new();
    };
    project
        .raw
        .catalog
        .declared
        .iter()
        .filter(|id| !shared.contains_key(*id))
        .cloned()
        .collect()
}

/// Parses sizes like `512MB`, `2GB`, `1.5GiB`, `1000000`.
pub fn parse_size(text: &str) -> Option<usize> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let factor: f64 = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1.0,
        "KB" | "K" => 1e3,
        "MB" | "M" => 1e6,
        "GB" | "G" => 1e9,
        "KIB" => 1024.0,
        "MIB" => 1024.0 * 1024.0,
        "GIB" => 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    let bytes = number * factor;
    (bytes >= 1.0 && bytes.is_finite()).then_some(bytes as usize)
}

/// The keys of a KPI or target that define a measure.
struct MeasureKeys<'a> {
    table: &'a Spanned<String>,
    measure: &'a Spanned<String>,
    time: Option<&'a Spanned<String>>,
    filter: Option<&'a Spanned<String>>,
}

struct Validator<'a> {
    root: &'a Path,
    file: &'a Arc<SourceFile>,
    diags: &'a mut Diagnostics,
    /// Ids of tables written but rejected, so references to them are not
    /// reported a second time as unknown.
    rejected_tables: HashSet<String>,
}

impl Validator<'_> {
    fn at(&self, span: std::ops::Range<usize>) -> Location {
        Location::new(self.file, span)
    }

    fn error(&mut self, span: std::ops::Range<usize>, object: impl Into<String>, message: impl Into<String>) {
        let location = self.at(span);
        self.diags.error(&location, object, message);
    }

    /// An enum value from a fixed list, with a suggestion when misspelled.
    fn choice<T>(
        &mut self,
        value: &Spanned<String>,
        object: &str,
        names: &[&str],
        parse: impl Fn(&str) -> Option<T>,
    ) -> Option<T> {
        let text = value.get_ref();
        let parsed = parse(text);
        if parsed.is_none() {
            let hint = suggestion(text, names.iter().copied());
            let list = names.join(", ");
            self.error(value.span(), object, format!("`{text}` is not one of {list}{hint}"));
        }
        parsed
    }

    fn sql(&self, value: &Spanned<String>, object: String) -> SqlText {
        SqlText {
            text: value.get_ref().clone(),
            location: self.at(value.span()),
            object,
        }
    }

    fn tables(
        &mut self,
        raw: &RawTables,
        shared: Option<&IndexMap<String, TableDef>>,
        out: &mut IndexMap<String, TableDef>,
    ) {
        let defs = raw
            .sources
            .iter()
            .map(|e| (e, "sources"))
            .map(|(e, section)| (e.id.as_str(), e.id_span.clone(), section, self.source(e)))
            .collect::<Vec<_>>();
        let views = raw.views.iter().map(|e| {
            let object = format!("views.{}", e.id);
            (
                e.id.as_str(),
                e.id_span.clone(),
                "views",
                Some(TableKind::View(self.sql(&e.value.sql, format!("{object}.sql")))),
            )
        });
        for (id, span, section, kind) in defs.into_iter().chain(views.collect::<Vec<_>>()) {
            let object = format!("{section}.{id}");
            if let Some(existing) = shared.and_then(|s| s.get(id)) {
                self.error(
                    span,
                    &object,
                    format!(
                        "`{id}` is already declared in warroom.toml as `{}`; a report may not redeclare a shared source or view",
                        existing.object
                    ),
                );
                continue;
            }
            if let Some(existing) = out.get(id) {
                self.error(
                    span,
                    &object,
                    format!(
                        "`{id}` is already declared as `{}`; sources and views share one namespace",
                        existing.object
                    ),
                );
                continue;
            }
            if let Some(kind) = kind {
                let location = self.at(span);
                out.insert(
                    id.to_string(),
                    TableDef {
                        id: id.to_string(),
                        object,
                        location,
                        kind,
                    },
                );
            }
        }
    }

    fn source(&mut self, entry: &Entry<RawSource>) -> Option<TableKind> {
        let object = format!("sources.{}", entry.id);
        let raw = &entry.value;
        let path = raw.path.get_ref();
        let format = match &raw.kind {
            Some(kind) => self.choice(kind, &format!("{object}.type"), &["csv", "parquet"], |k| match k {
                "csv" => Some(FileFormat::Csv),
                "parquet" => Some(FileFormat::Parquet),
                _ => None,
            })?,
            None => {
                match format_from_path(&self.root.join(path)) {
                    Some(format) => format,
                    None => {
                        self.error(
                        raw.path.span(),
                        format!("{object}.path"),
                        format!("cannot tell whether `{path}` is CSV or Parquet; add type = \"csv\" or type = \"parquet\""),
                    );
                        return None;
                    }
                }
            }
        };
        let mut csv = CsvOptions::default();
        if let Some(options) = &raw.csv {
            if let Some(delimiter) = &options.delimiter {
                match delimiter.get_ref().as_bytes() {
                    [byte] if byte.is_ascii() => csv.delimiter = *byte,
                    _ => {
                        self.error(
                            delimiter.span(),
                            format!("{object}.csv.delimiter"),
                            "the delimiter must be one ASCII character",
                        );
                        return None;
                    }
                }
            }
            csv.header = options.header.unwrap_or(true);
            csv.null_value = options.null_value.clone();
            for (column, ty) in options.schema.iter().flatten() {
                csv.schema
                    .push((column.clone(), ty.get_ref().clone(), self.at(ty.span())));
            }
        }
        Some(TableKind::Source(SourceDef {
            path: path.clone(),
            path_location: self.at(raw.path.span()),
            format,
            csv,
        }))
    }

    fn report(&mut self, id: &str, raw: &Option<Spanned<RawReport>>, _shared: &IndexMap<String, TableDef>) -> Report {
        let default = RawReport::default();
        let (settings, span) = match raw {
            Some(r) => (r.get_ref(), r.span()),
            None => (&default, 0..0),
        };
        let grain = settings
            .grain
            .as_ref()
            .and_then(|g| self.choice(g, "report.grain", &Grain::NAMES, |s| s.parse().ok()))
            .unwrap_or(Grain::Month);
        let history = match &settings.history {
            Some(h) if !(1..=1000).contains(h.get_ref()) => {
                self.error(h.span(), "report.history", "history must be between 1 and 1000 periods");
                12
            }
            Some(h) => *h.get_ref() as u32,
            None => 12,
        };
        let period = settings
            .period
            .as_ref()
            .and_then(|p| {
                self.choice(p, "report.period", &["current", "last_complete"], |s| match s {
                    "current" => Some(PeriodMode::Current),
                    "last_complete" => Some(PeriodMode::LastComplete),
                    _ => None,
                })
            })
            .unwrap_or(PeriodMode::Current);
        let as_of = settings.as_of.as_ref().and_then(|d| {
            let date = toml_date(d.get_ref());
            if date.is_none() {
                self.error(
                    d.span(),
                    "report.as_of",
                    "as_of must be a date like 2026-11-30, without a time",
                );
            }
            date
        });
        let formats = match &settings.formats {
            Some(list) => list
                .iter()
                .filter_map(|f| {
                    self.choice(f, "report.formats", &["html", "md"], |s| match s {
                        "html" => Some(OutputFormat::Html),
                        "md" => Some(OutputFormat::Markdown),
                        _ => None,
                    })
                })
                .collect(),
            None => vec![OutputFormat::Html, OutputFormat::Markdown],
        };
        Report {
            id: id.to_string(),
            location: self.at(span),
            title: settings.title.clone().unwrap_or_else(|| id.to_string()),
            description: settings.description.clone(),
            grain,
            history,
            period,
            as_of,
            formats,
            template: settings.template.clone(),
            tables: IndexMap::new(),
            kpis: IndexMap::new(),
            breakdowns: IndexMap::new(),
            funnels: IndexMap::new(),
            table_queries: IndexMap::new(),
            alerts: IndexMap::new(),
            email: None,
            broken: false,
        }
    }

    fn table_ref(
        &mut self,
        value: &Spanned<String>,
        object: &str,
        report: &Report,
        shared: &IndexMap<String, TableDef>,
    ) -> Option<String> {
        let id = value.get_ref();
        if report.tables.contains_key(id) || shared.contains_key(id) {
            return Some(id.clone());
        }
        if self.rejected_tables.contains(id) {
            return None;
        }
        let names = report.tables.keys().chain(shared.keys()).map(String::as_str);
        let hint = suggestion(id, names);
        self.error(value.span(), object, format!("unknown source or view `{id}`{hint}"));
        None
    }

    /// Parses a measure or filter, checking its placeholders.
    fn fragment(&mut self, value: &Spanned<String>, object: String) -> Option<(SqlText, Vec<String>)> {
        let text = self.sql(value, object);
        let expr = match sql::parse_expr(&text.text) {
            Ok(expr) => expr,
            Err(e) => {
                self.diags.push(e.diagnostic(&text));
                return None;
            }
        };
        let used = sql::placeholders(&expr);
        for name in &used {
            if !PLACEHOLDERS.contains(&name.as_str()) {
                let hint = suggestion(name, PLACEHOLDERS);
                let location = word_location(&text, name);
                self.diags
                    .error(&location, &text.object, format!("unknown placeholder `{name}`{hint}"));
                return None;
            }
        }
        Some((text, used))
    }

    fn measure_def(
        &mut self,
        object: &str,
        keys: MeasureKeys,
        report: &Report,
        shared: &IndexMap<String, TableDef>,
    ) -> Option<MeasureDef> {
        let MeasureKeys {
            table,
            measure,
            time,
            filter,
        } = keys;
        let table_id = self.table_ref(table, &format!("{object}.source"), report, shared);
        let measure_sql = self.fragment(measure, format!("{object}.measure"));
        let filter_sql = filter.map(|f| self.fragment(f, format!("{object}.filter")));
        let (measure_sql, mut used) = measure_sql?;
        let filter_sql = match filter_sql {
            Some(parsed) => {
                let (text, filter_used) = parsed?;
                used.extend(filter_used);
                Some(text)
            }
            None => None,
        };
        let additive = sql::parse_expr(&measure_sql.text).is_ok_and(|e| sql::is_additive(&e));
        Some(MeasureDef {
            table: table_id?,
            table_location: self.at(table.span()),
            measure: measure_sql,
            time: time.map(|t| (t.get_ref().clone(), self.at(t.span()))),
            filter: filter_sql,
            additive,
            stock: used.iter().any(|p| p == "$period_start" || p == "$period_end"),
        })
    }

    fn kpis(
        &mut self,
        entries: &[Entry<RawKpi>],
        declared: &[String],
        shared: &IndexMap<String, TableDef>,
        report: &mut Report,
    ) {
        let declared: Vec<&str> = declared.iter().map(String::as_str).collect();
        // Locations of `expr`/`drivers`, for the grain and cycle checks below.
        let mut expr_spans = HashMap::new();
        for entry in entries {
            let object = format!("kpis.{}", entry.id);
            let raw = &entry.value;
            let id_location = self.at(entry.id_span.clone());
            let def = match (&raw.measure, &raw.expr) {
                (Some(_), Some(expr)) => {
                    self.error(
                        expr.span(),
                        &object,
                        "a KPI has either `measure` (with `source`) or `expr`, not both",
                    );
                    None
                }
                (None, None) => {
                    self.error(
                        entry.id_span.clone(),
                        &object,
                        "a KPI needs `measure` (with `source` and `time`) or `expr`",
                    );
                    None
                }
                (Some(measure), None) => match &raw.source {
                    None => {
                        self.error(
                            entry.id_span.clone(),
                            &object,
                            "`measure` needs `source`: the source or view it reads",
                        );
                        None
                    }
                    Some(source) => {
                        let keys = MeasureKeys {
                            table: source,
                            measure,
                            time: raw.time.as_ref(),
                            filter: raw.filter.as_ref(),
                        };
                        let def = self.measure_def(&object, keys, report, shared);
                        match def {
                            Some(def) if def.time.is_none() && !def.stock => {
                                self.error(
                                    entry.id_span.clone(),
                                    &object,
                                    "needs `time`, the date column that places a row in a period (or use $period_start/$period_end in `measure` or `filter` for a stock)",
                                );
                                None
                            }
                            other => other.map(|d| KpiDef::Measure(Box::new(d))),
                        }
                    }
                },
                (None, Some(expr)) => {
                    for (key, value) in [("source", &raw.source), ("time", &raw.time), ("filter", &raw.filter)] {
                        if let Some(v) = value {
                            self.error(
                                v.span(),
                                &object,
                                format!("`{key}` has no effect on a derived KPI (one with `expr`)"),
                            );
                        }
                    }
                    expr_spans.insert(entry.id.clone(), expr.span());
                    self.derived(expr, &format!("{object}.expr"), &declared, &entry.id)
                        .map(KpiDef::Derived)
                }
            };
            let own_grain = raw
                .grain
                .as_ref()
                .and_then(|g| self.choice(g, &format!("{object}.grain"), &Grain::NAMES, |s| s.parse().ok()));
            let format = raw
                .format
                .as_ref()
                .and_then(|f| self.choice(f, &format!("{object}.format"), &ValueFormat::NAMES, ValueFormat::parse))
                .unwrap_or(ValueFormat::Number);
            let better = raw
                .better
                .as_ref()
                .and_then(|b| {
                    self.choice(b, &format!("{object}.better"), &["higher", "lower"], |s| match s {
                        "higher" => Some(Better::Higher),
                        "lower" => Some(Better::Lower),
                        _ => None,
                    })
                })
                .unwrap_or(Better::Higher);
            let decimals = raw.decimals.as_ref().and_then(|d| {
                let ok = (0..=10).contains(d.get_ref());
                if !ok {
                    self.error(
                        d.span(),
                        format!("{object}.decimals"),
                        "decimals must be between 0 and 10",
                    );
                }
                ok.then_some(*d.get_ref() as u32)
            });
            let warn_at = raw.warn_at.as_ref().and_then(|w| {
                let ok = *w.get_ref() > 0.0 && *w.get_ref() <= 1.0;
                if !ok {
                    self.error(
                        w.span(),
                        format!("{object}.warn_at"),
                        "warn_at is an attainment between 0 and 1, e.g. 0.9",
                    );
                }
                ok.then_some(*w.get_ref())
            });
            let target = raw.target.as_ref().and_then(|t| match t.get_ref() {
                RawTarget::Fixed(n) => Some(TargetDef::Fixed(*n)),
                RawTarget::Measure(RawTargetMeasure {
                    source,
                    measure,
                    time,
                    filter,
                }) => self
                    .measure_def(
                        &format!("{object}.target"),
                        MeasureKeys {
                            table: source,
                            measure,
                            time: Some(time),
                            filter: filter.as_ref(),
                        },
                        report,
                        shared,
                    )
                    .map(|d| TargetDef::Measure(Box::new(d))),
            });
            let mut drivers = Vec::new();
            for driver in raw.drivers.iter().flatten() {
                let name = driver.get_ref();
                if name == &entry.id {
                    self.error(
                        driver.span(),
                        format!("{object}.drivers"),
                        "a KPI cannot be its own driver",
                    );
                } else if !declared.contains(&name.as_str()) {
                    let hint = suggestion(name, declared.iter().copied());
                    self.error(
                        driver.span(),
                        format!("{object}.drivers"),
                        format!("unknown KPI `{name}`{hint}"),
                    );
                } else {
                    drivers.push(name.clone());
                }
            }
            for driver in raw.drivers.iter().flatten() {
                expr_spans.insert(format!("{}#drivers#{}", entry.id, driver.get_ref()), driver.span());
            }
            let Some(def) = def else { continue };
            report.kpis.insert(
                entry.id.clone(),
                Kpi {
                    id: entry.id.clone(),
                    object,
                    location: id_location,
                    label: raw.label.clone().unwrap_or_else(|| entry.id.clone()),
                    grain: own_grain.unwrap_or(report.grain),
                    own_grain: own_grain.is_some(),
                    def,
                    format,
                    unit: raw.unit.clone(),
                    decimals,
                    better,
                    warn_at,
                    target,
                    drivers,
                },
            );
        }
        self.check_cycles(report, &expr_spans);
        self.settle_grains(report, &expr_spans);
    }

    fn derived(
        &mut self,
        expr: &Spanned<String>,
        object: &str,
        declared: &[&str],
        own_id: &str,
    ) -> Option<DerivedExpr> {
        let text = self.sql(expr, object.to_string());
        let parsed = match sql::parse_expr(&text.text) {
            Ok(e) => e,
            Err(e) => {
                self.diags.push(e.diagnostic(&text));
                return None;
            }
        };
        let derived = match DerivedExpr::from_sql(&parsed) {
            Ok(d) => d,
            Err(unsupported) => {
                let location = match unsupported.position {
                    Some((line, col)) => sql::sql_location(&text, line, col, unsupported.found.chars().count()),
                    None => text.location.clone(),
                };
                self.diags.error(
                    &location,
                    object,
                    format!(
                        "`{}` is not allowed here: an expr is arithmetic (+ - * / and parentheses) over numbers and KPI ids",
                        unsupported.found
                    ),
                );
                return None;
            }
        };
        let mut ok = true;
        for input in derived.inputs() {
            if input == own_id {
                self.error(expr.span(), object, format!("`{own_id}` refers to itself"));
                ok = false;
            } else if !declared.contains(&input) {
                let hint = suggestion(input, declared.iter().copied());
                let location = word_location(&text, input);
                self.diags
                    .error(&location, object, format!("unknown KPI `{input}`{hint}"));
                ok = false;
            }
        }
        ok.then_some(derived)
    }

    /// Reports each cycle among derived KPIs once and removes its members.
    fn check_cycles(&mut self, report: &mut Report, spans: &HashMap<String, std::ops::Range<usize>>) {
        fn inputs(report: &Report, id: &str) -> Vec<String> {
            match report.kpis.get(id).map(|k| &k.def) {
                Some(KpiDef::Derived(e)) => e.inputs().into_iter().map(String::from).collect(),
                _ => Vec::new(),
            }
        }
        let mut done: HashSet<String> = HashSet::new();
        let mut in_cycle: Vec<String> = Vec::new();
        let ids: Vec<String> = report.kpis.keys().cloned().collect();
        for start in &ids {
            let mut path: Vec<String> = Vec::new();
            let mut stack: Vec<(String, usize)> = vec![(start.clone(), 0)];
            while let Some((node, next)) = stack.last().cloned() {
                if next == 0 {
                    if let Some(pos) = path.iter().position(|p| p == &node) {
                        let cycle: Vec<String> = path[pos..].to_vec();
                        if !cycle.iter().any(|c| in_cycle.contains(c)) {
                            let mut shown = cycle.clone();
                            shown.push(node.clone());
                            let span = spans.get(&cycle[0]).cloned().unwrap_or(0..0);
                            self.error(
                                span,
                                format!("kpis.{}.expr", cycle[0]),
                                format!("derived KPIs form a cycle: {}", shown.join(" → ")),
                            );
                            in_cycle.extend(cycle);
                        }
                        stack.pop();
                        continue;
                    }
                    if done.contains(&node) {
                        stack.pop();
                        continue;
                    }
                    path.push(node.clone());
                }
                let children = inputs(report, &node);
                if next < children.len() {
                    stack.last_mut().expect("non-empty").1 += 1;
                    stack.push((children[next].clone(), 0));
                } else {
                    stack.pop();
                    path.pop();
                    done.insert(node);
                }
            }
        }
        for id in in_cycle {
            report.kpis.shift_remove(&id);
        }
    }

    /// Gives derived KPIs the grain of their inputs and rejects mixtures in
    /// `expr` and `drivers`.
    fn settle_grains(&mut self, report: &mut Report, spans: &HashMap<String, std::ops::Range<usize>>) {
        let order = derived_order(report);
        for id in order {
            let kpi = &report.kpis[&id];
            let KpiDef::Derived(expr) = &kpi.def else { continue };
            let grains: Vec<(String, Grain)> = expr
                .inputs()
                .iter()
                .filter_map(|i| report.kpis.get(*i).map(|k| (k.id.clone(), k.grain)))
                .collect();
            let span = spans.get(&id).cloned().unwrap_or(0..0);
            let object = format!("kpis.{id}.expr");
            let Some((_, first)) = grains.first().cloned() else {
                continue;
            };
            if let Some((other, grain)) = grains.iter().find(|(_, g)| *g != first) {
                self.error(
                    span,
                    object,
                    format!("mixes grains: `{}` is by {first}, `{other}` is by {grain}", grains[0].0),
                );
                report.kpis.shift_remove(&id);
                continue;
            }
            let kpi = report.kpis.get_mut(&id).expect("present");
            if kpi.own_grain && kpi.grain != first {
                let own = kpi.grain;
                self.error(
                    span,
                    object,
                    format!("this KPI is by {own} but its inputs are by {first}"),
                );
                report.kpis.shift_remove(&id);
                continue;
            }
            kpi.grain = first;
        }
        let mut broken = Vec::new();
        for kpi in report.kpis.values() {
            for driver in &kpi.drivers {
                if let Some(d) = report.kpis.get(driver)
                    && d.grain != kpi.grain
                {
                    let span = spans
                        .get(&format!("{}#drivers#{driver}", kpi.id))
                        .cloned()
                        .unwrap_or(0..0);
                    self.error(
                        span,
                        format!("kpis.{}.drivers", kpi.id),
                        format!(
                            "mixes grains: `{}` is by {}, driver `{driver}` is by {}",
                            kpi.id, kpi.grain, d.grain
                        ),
                    );
                    broken.push(kpi.id.clone());
                    break;
                }
            }
        }
        for id in broken {
            report.kpis.shift_remove(&id);
        }
        // A KPI whose inputs or drivers were dropped cannot be evaluated.
        loop {
            let missing: Vec<String> = report
                .kpis
                .values()
                .filter(|k| {
                    let inputs: Vec<&str> = match &k.def {
                        KpiDef::Derived(e) => e.inputs(),
                        KpiDef::Measure(_) => Vec::new(),
                    };
                    inputs
                        .iter()
                        .chain(k.drivers.iter().map(String::as_str).collect::<Vec<_>>().iter())
                        .any(|i| !report.kpis.contains_key(*i))
                })
                .map(|k| k.id.clone())
                .collect();
            if missing.is_empty() {
                break;
            }
            for id in missing {
                report.kpis.shift_remove(&id);
            }
        }
    }
}

impl Validator<'_> {
    /// A reference to a report KPI, with a suggestion when unknown.
    fn kpi_ref(&mut self, value: &Spanned<String>, object: &str, declared: &[&str]) -> Option<String> {
        let id = value.get_ref();
        if declared.contains(&id.as_str()) {
            return Some(id.clone());
        }
        let hint = suggestion(id, declared.iter().copied());
        self.error(value.span(), object, format!("unknown KPI `{id}`{hint}"));
        None
    }

    fn breakdowns(
        &mut self,
        entries: &[Entry<RawBreakdown>],
        declared: &[String],
        shared: &IndexMap<String, TableDef>,
        report: &mut Report,
    ) {
        let declared: Vec<&str> = declared.iter().map(String::as_str).collect();
        for entry in entries {
            let object = format!("breakdowns.{}", entry.id);
            let raw = &entry.value;
            let mut ok = true;
            let mut kpis = Vec::new();
            for kpi in &raw.kpis {
                match self.kpi_ref(kpi, &format!("{object}.kpis"), &declared) {
                    Some(id) => kpis.push(id),
                    None => ok = false,
                }
            }
            if kpis.is_empty() && ok {
                self.error(entry.id_span.clone(), &object, "`kpis` lists no KPI");
                ok = false;
            }
            let grains: Vec<(String, Grain)> = kpis
                .iter()
                .filter_map(|k| report.kpis.get(k).map(|kpi| (k.clone(), kpi.grain)))
                .collect();
            if let Some((first, grain)) = grains.first()
                && let Some((other, other_grain)) = grains.iter().find(|(_, g)| g != grain)
            {
                self.error(
                    entry.id_span.clone(),
                    &object,
                    format!("mixes grains: `{first}` is by {grain}, `{other}` is by {other_grain}"),
                );
                ok = false;
            }
            if raw.by.is_empty() {
                self.error(entry.id_span.clone(), &object, "`by` names no column");
                ok = false;
            }
            let sort = raw.sort.as_ref().and_then(|sort| {
                let text = sort.get_ref();
                let (descending, rest) = match text.strip_prefix('-') {
                    Some(rest) => (true, rest),
                    None => (false, text.as_str()),
                };
                let (kpi, field) = rest.split_once('.').unwrap_or((rest, "value"));
                if !kpis.iter().any(|k| k == kpi) {
                    let hint = suggestion(kpi, kpis.iter().map(String::as_str));
                    self.error(
                        sort.span(),
                        format!("{object}.sort"),
                        format!("`{kpi}` is not one of this breakdown's KPIs{hint}"),
                    );
                    ok = false;
                    return None;
                }
                if !ROW_FIELDS.contains(&field) || field == "trend" || field == "status" {
                    let hint = suggestion(field, ROW_FIELDS.iter().copied());
                    let fields: Vec<&str> = ROW_FIELDS
                        .iter()
                        .copied()
                        .filter(|f| *f != "trend" && *f != "status")
                        .collect();
                    self.error(
                        sort.span(),
                        format!("{object}.sort"),
                        format!(
                            "rows cannot be sorted by `{field}`{hint}; use one of {}",
                            fields.join(", ")
                        ),
                    );
                    ok = false;
                    return None;
                }
                Some(SortKey {
                    kpi: kpi.to_string(),
                    field: field.to_string(),
                    descending,
                })
            });
            let limit = raw.limit.as_ref().and_then(|l| {
                if *l.get_ref() < 1 {
                    self.error(l.span(), format!("{object}.limit"), "limit must be at least 1");
                    ok = false;
                    None
                } else {
                    Some(*l.get_ref() as usize)
                }
            });
            let mut targets = IndexMap::new();
            for (kpi, target) in raw.targets.iter().flatten() {
                let target_object = format!("{object}.targets.{kpi}");
                if !kpis.contains(kpi) {
                    let hint = suggestion(kpi, kpis.iter().map(String::as_str));
                    self.error(
                        target.span(),
                        &target_object,
                        format!("`{kpi}` is not one of this breakdown's KPIs{hint}"),
                    );
                    ok = false;
                    continue;
                }
                let t = target.get_ref();
                let keys = MeasureKeys {
                    table: &t.source,
                    measure: &t.measure,
                    time: Some(&t.time),
                    filter: t.filter.as_ref(),
                };
                match self.measure_def(&target_object, keys, report, shared) {
                    Some(def) => {
                        targets.insert(kpi.clone(), def);
                    }
                    None => ok = false,
                }
            }
            if ok {
                report.breakdowns.insert(
                    entry.id.clone(),
                    Breakdown {
                        id: entry.id.clone(),
                        title: raw.title.clone().unwrap_or_else(|| entry.id.clone()),
                        kpis,
                        by: raw.by.iter().map(|b| b.get_ref().clone()).collect(),
                        sort,
                        limit,
                        trend: raw.trend.unwrap_or(false),
                        targets,
                        location: self.at(entry.id_span.clone()),
                    },
                );
            }
        }
    }

    fn funnels(&mut self, entries: &[Entry<RawFunnel>], shared: &IndexMap<String, TableDef>, report: &mut Report) {
        for entry in entries {
            let object = format!("funnels.{}", entry.id);
            let raw = &entry.value;
            let table = self.table_ref(&raw.source, &format!("{object}.source"), report, shared);
            let count = match &raw.count {
                Some(c) => self.fragment(c, format!("{object}.count")).map(|(t, _)| t),
                None => Some(SqlText {
                    text: "COUNT(*)".into(),
                    location: self.at(entry.id_span.clone()),
                    object: format!("{object}.count"),
                }),
            };
            let value = raw
                .value
                .as_ref()
                .map(|v| self.fragment(v, format!("{object}.value")).map(|(t, _)| t));
            let mut stages = Vec::new();
            let mut ok = true;
            for (i, stage) in raw.stages.iter().enumerate() {
                let stage = stage.get_ref();
                let id = stage.id.get_ref();
                if !super::load::is_valid_id(id) {
                    self.error(
                        stage.id.span(),
                        format!("{object}.stages[{i}].id"),
                        format!("id `{id}` must match [a-z][a-z0-9_]*"),
                    );
                    ok = false;
                    continue;
                }
                if stages.iter().any(|s: &Stage| &s.id == id) {
                    self.error(
                        stage.id.span(),
                        format!("{object}.stages[{i}].id"),
                        format!("stage `{id}` is listed twice"),
                    );
                    ok = false;
                    continue;
                }
                match self.fragment(&stage.filter, format!("{object}.stages.{id}.filter")) {
                    Some((filter, _)) => stages.push(Stage {
                        id: id.clone(),
                        label: stage.label.clone().unwrap_or_else(|| id.clone()),
                        filter,
                    }),
                    None => ok = false,
                }
            }
            if raw.stages.is_empty() {
                self.error(entry.id_span.clone(), &object, "a funnel needs at least one stage");
                ok = false;
            }
            let value = match value {
                Some(None) => {
                    ok = false;
                    None
                }
                Some(Some(v)) => Some(v),
                None => None,
            };
            if let (Some(table), Some(count), true) = (table, count, ok) {
                report.funnels.insert(
                    entry.id.clone(),
                    Funnel {
                        id: entry.id.clone(),
                        title: raw.title.clone().unwrap_or_else(|| entry.id.clone()),
                        table,
                        time: (raw.time.get_ref().clone(), self.at(raw.time.span())),
                        count,
                        value,
                        stages,
                    },
                );
            }
        }
    }

    fn table_queries(&mut self, entries: &[Entry<RawTable>], report: &mut Report) {
        for entry in entries {
            let object = format!("tables.{}", entry.id);
            let raw = &entry.value;
            let sql = self.sql(&raw.sql, format!("{object}.sql"));
            if let Err(e) = sql::parse_query(&sql.text) {
                self.diags.push(e.diagnostic(&sql));
                continue;
            }
            let max_rows = match &raw.max_rows {
                Some(m) if *m.get_ref() < 1 => {
                    self.error(m.span(), format!("{object}.max_rows"), "max_rows must be at least 1");
                    continue;
                }
                Some(m) => *m.get_ref() as usize,
                None => 1000,
            };
            report.table_queries.insert(
                entry.id.clone(),
                TableQuery {
                    id: entry.id.clone(),
                    title: raw.title.clone().unwrap_or_else(|| entry.id.clone()),
                    sql,
                    max_rows,
                },
            );
        }
    }

    fn alerts(&mut self, entries: &[Entry<RawAlert>], report: &mut Report) {
        for entry in entries {
            let object = format!("alerts.{}", entry.id);
            let raw = &entry.value;
            let subjects: Vec<(&str, &Spanned<String>)> = [
                ("kpi", &raw.kpi),
                ("breakdown", &raw.breakdown),
                ("funnel", &raw.funnel),
            ]
            .into_iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| (k, v)))
            .collect();
            let subject = match subjects.as_slice() {
                [(kind, value)] => {
                    let id = value.get_ref();
                    let known: Vec<&str> = match *kind {
                        "kpi" => report.kpis.keys().map(String::as_str).collect(),
                        "breakdown" => report.breakdowns.keys().map(String::as_str).collect(),
                        _ => report.funnels.keys().map(String::as_str).collect(),
                    };
                    if known.contains(&id.as_str()) {
                        Some(match *kind {
                            "kpi" => AlertSubject::Kpi(id.clone()),
                            "breakdown" => AlertSubject::Breakdown(id.clone()),
                            _ => AlertSubject::Funnel(id.clone()),
                        })
                    } else {
                        let hint = suggestion(id, known.iter().copied());
                        let what = if *kind == "kpi" { "KPI" } else { kind };
                        self.error(
                            value.span(),
                            format!("{object}.{kind}"),
                            format!("unknown {what} `{id}`{hint}"),
                        );
                        None
                    }
                }
                [] => {
                    self.error(
                        entry.id_span.clone(),
                        &object,
                        "an alert needs one of `kpi`, `breakdown` or `funnel`",
                    );
                    None
                }
                [_, (_, second), ..] => {
                    self.error(
                        second.span(),
                        &object,
                        "an alert looks at one of `kpi`, `breakdown` or `funnel`, not several",
                    );
                    None
                }
            };
            let severity = match &raw.severity {
                Some(s) => self.choice(s, &format!("{object}.severity"), &Severity::NAMES, Severity::parse),
                None => Some(Severity::Warning),
            };
            let when = self.sql(&raw.when, format!("{object}.when"));
            let message = raw.message.as_ref().map(|m| self.sql(m, format!("{object}.message")));
            let (Some(subject), Some(severity)) = (subject, severity) else {
                continue;
            };
            let alert = Alert {
                id: entry.id.clone(),
                subject,
                when,
                severity,
                message,
            };
            if self.check_alert(&alert, report) {
                report.alerts.insert(entry.id.clone(), alert);
            }
        }
    }

    /// Compiles `when` and `message` and checks the names they use.
    fn check_alert(&mut self, alert: &Alert, report: &Report) -> bool {
        let env = crate::alerts::expr::environment();
        let expression = match env.compile_expression(&alert.when.text) {
            Ok(e) => e,
            Err(e) => {
                self.diags
                    .push(crate::alerts::evaluate::template_error(&e, &alert.when));
                return false;
            }
        };
        let scope = crate::alerts::evaluate::Scope::of(alert, report);
        let mut ok = true;
        let mut names: Vec<String> = expression.undeclared_variables(true).into_iter().collect();
        names.sort();
        for name in names {
            if let Err(message) = scope.check_name(&name) {
                let root = name.split('.').next().unwrap_or(&name).to_string();
                let location = word_location(&alert.when, &root);
                self.diags.error(&location, &alert.when.object, message);
                ok = false;
            }
        }
        if let Some(message) = &alert.message {
            match scope.sample_render(&env, &message.text) {
                Ok(_) => {}
                Err(e) => {
                    self.diags.push(crate::alerts::evaluate::template_error(&e, message));
                    ok = false;
                }
            }
        }
        ok
    }
}

impl Validator<'_> {
    /// `[watch]`: existing paths, a positive debounce, and a maximum wait no
    /// shorter than it.
    fn watch(&mut self, raw: &RawWatch) -> WatchConfig {
        let mut config = WatchConfig::default();
        if let Some(paths) = &raw.paths {
            let mut found = Vec::new();
            for path in paths {
                if self.root.join(path.get_ref()).exists() {
                    found.push(PathBuf::from(path.get_ref()));
                } else {
                    self.error(
                        path.span(),
                        "watch.paths",
                        format!("`{}` does not exist in the project", path.get_ref()),
                    );
                }
            }
            config.paths = Some(found);
        }
        let mut millis = |value: &Option<Spanned<i64>>, object: &str, least: u64| {
            let value = value.as_ref()?;
            match u64::try_from(*value.get_ref()) {
                Ok(ms) if (least..=3_600_000).contains(&ms) => Some((Duration::from_millis(ms), value.span())),
                _ => {
                    self.error(
                        value.span(),
                        object,
                        format!("must be between {least} and 3600000 milliseconds"),
                    );
                    None
                }
            }
        };
        if let Some((debounce, _)) = millis(&raw.debounce_ms, "watch.debounce_ms", 10) {
            config.debounce = debounce;
        }
        if let Some((max_wait, span)) = millis(&raw.max_wait_ms, "watch.max_wait_ms", 10) {
            config.max_wait = max_wait;
            if max_wait < config.debounce {
                self.error(span, "watch.max_wait_ms", "must not be shorter than `debounce_ms`");
            }
        }
        config
    }

    fn smtp(&mut self, raw: &RawSmtp) -> Option<SmtpConfig> {
        let tls = match &raw.tls {
            Some(t) => self.choice(t, "smtp.tls", &["starttls", "tls", "none"], |s| match s {
                "starttls" => Some(TlsMode::StartTls),
                "tls" => Some(TlsMode::Tls),
                "none" => Some(TlsMode::None),
                _ => None,
            })?,
            None => TlsMode::StartTls,
        };
        let port = match &raw.port {
            Some(p) => match u16::try_from(*p.get_ref()) {
                Ok(port) if port > 0 => port,
                _ => {
                    self.error(p.span(), "smtp.port", "the port must be between 1 and 65535");
                    return None;
                }
            },
            None => match tls {
                TlsMode::StartTls => 587,
                TlsMode::Tls => 465,
                TlsMode::None => 25,
            },
        };
        let from = self.mailbox(&raw.from, "smtp.from")?;
        let timeout = match &raw.timeout_s {
            Some(t) if !(1..=600).contains(t.get_ref()) => {
                self.error(
                    t.span(),
                    "smtp.timeout_s",
                    "the timeout must be between 1 and 600 seconds",
                );
                return None;
            }
            Some(t) => *t.get_ref() as u64,
            None => 30,
        };
        if let Some(env) = &raw.password_env
            && (env.get_ref().is_empty() || env.get_ref().contains(['=', ' ']))
        {
            self.error(
                env.span(),
                "smtp.password_env",
                "password_env names an environment variable, e.g. WARROOM_SMTP_PASSWORD",
            );
            return None;
        }
        Some(SmtpConfig {
            host: raw.host.get_ref().clone(),
            port,
            tls,
            username: raw.username.clone(),
            password_env: raw.password_env.as_ref().map(|e| e.get_ref().clone()),
            from,
            timeout: std::time::Duration::from_secs(timeout),
        })
    }

    /// A mailbox like `Name <a@b.c>` or `a@b.c`.
    fn mailbox(&mut self, value: &Spanned<String>, object: &str) -> Option<String> {
        match value.get_ref().parse::<lettre::message::Mailbox>() {
            Ok(_) => Some(value.get_ref().clone()),
            Err(e) => {
                self.error(
                    value.span(),
                    object,
                    format!("`{}` is not a mail address: {e}", value.get_ref()),
                );
                None
            }
        }
    }

    fn email(&mut self, raw: &RawEmail) -> Option<EmailConfig> {
        let mut ok = true;
        let mut list = |v: &mut Self, values: &[Spanned<String>], object: &str| -> Vec<String> {
            values
                .iter()
                .filter_map(|m| {
                    v.mailbox(m, object).or_else(|| {
                        ok = false;
                        None
                    })
                })
                .collect()
        };
        let to = list(self, &raw.to, "email.to");
        let cc = list(self, raw.cc.as_deref().unwrap_or_default(), "email.cc");
        let bcc = list(self, raw.bcc.as_deref().unwrap_or_default(), "email.bcc");
        if to.is_empty() && cc.is_empty() && bcc.is_empty() && ok {
            self.error(0..0, "email.to", "a report's [email] needs at least one recipient");
            ok = false;
        }
        let send = match &raw.send {
            Some(s) => self.choice(
                s,
                "email.send",
                &["on_update", "always", "on_alert", "on_change"],
                |s| match s {
                    "on_update" => Some(SendPolicy::OnUpdate),
                    "always" => Some(SendPolicy::Always),
                    "on_alert" => Some(SendPolicy::OnAlert),
                    "on_change" => Some(SendPolicy::OnChange),
                    _ => None,
                },
            ),
            None => Some(SendPolicy::OnUpdate),
        };
        let min_severity = match &raw.min_severity {
            Some(s) => self.choice(s, "email.min_severity", &Severity::NAMES, Severity::parse),
            None => Some(Severity::Warning),
        };
        let mut attach = Vec::new();
        for a in raw.attach.iter().flatten() {
            match self.choice(a, "email.attach", &["md", "html", "json", "csv"], |s| match s {
                "md" => Some(Attachment::Markdown),
                "html" => Some(Attachment::Html),
                "json" => Some(Attachment::Json),
                "csv" => Some(Attachment::Csv),
                _ => None,
            }) {
                Some(kind) if !attach.contains(&kind) => attach.push(kind),
                Some(_) => {}
                None => ok = false,
            }
        }
        let subject = match &raw.subject {
            Some(s) => {
                let text = self.sql(s, "email.subject".into());
                if let Err(e) = crate::alerts::expr::environment().template_from_str(&text.text) {
                    self.diags.push(crate::alerts::evaluate::template_error(&e, &text));
                    ok = false;
                }
                text
            }
            None => SqlText {
                text: "{% if alerts %}[{{ alerts | length }} alerts] {% endif %}{{ title }} {{ period.label }}".into(),
                location: self.at(0..0),
                object: "email.subject".into(),
            },
        };
        let (Some(send), Some(min_severity), true) = (send, min_severity, ok) else {
            return None;
        };
        Some(EmailConfig {
            to,
            cc,
            bcc,
            subject,
            send,
            min_severity,
            attach,
        })
    }
}

/// Derived KPIs ordered so that every input comes before its user.
pub fn derived_order(report: &Report) -> Vec<String> {
    let mut order = Vec::new();
    let mut seen = HashSet::new();
    fn visit(report: &Report, id: &str, seen: &mut HashSet<String>, order: &mut Vec<String>) {
        if !seen.insert(id.to_string()) {
            return;
        }
        if let Some(Kpi {
            def: KpiDef::Derived(expr),
            ..
        }) = report.kpis.get(id)
        {
            for input in expr.inputs() {
                visit(report, input, seen, order);
            }
            order.push(id.to_string());
        }
    }
    for id in report.kpis.keys() {
        visit(report, id, &mut seen, &mut order);
    }
    order
}

/// Where `word` is written inside a TOML string holding SQL or an
/// expression (the whole string when the spelling differs).
fn word_location(text: &SqlText, word: &str) -> Location {
    let at = find_word(&text.text, word).unwrap_or(0);
    sql::sql_location(text, 1, 1, 0).sub(at, at + word.len())
}

/// The byte offset of `word` in `text` where it is not part of a longer
/// identifier.
fn find_word(text: &str, word: &str) -> Option<usize> {
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    text.match_indices(word).map(|(at, _)| at).find(|&at| {
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        !before.is_some_and(is_ident) && !after.is_some_and(is_ident)
    })
}

fn toml_date(value: &toml::value::Datetime) -> Option<NaiveDate> {
    if value.time.is_some() || value.offset.is_some() {
        return None;
    }
    let date = value.date?;
    NaiveDate::from_ymd_opt(i32::from(date.year), u32::from(date.month), u32::from(date.day))
}

/// The format told by a path's extension, or for a folder by the
/// extension its files share.
fn format_from_path(path: &Path) -> Option<FileFormat> {
    if path.is_dir() {
        let mut formats = std::fs::read_dir(path)
            .ok()?
            .filter_map(Result::ok)
            .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
            .filter_map(|e| format_from_extension(&e.file_name().to_string_lossy()));
        let first = formats.next()?;
        return formats.all(|f| f == first).then_some(first);
    }
    format_from_extension(&path.to_string_lossy())
}

fn format_from_extension(path: &str) -> Option<FileFormat> {
    let lower = path.to_ascii_lowercase();
    if lower.ends_with(".csv") {
        Some(FileFormat::Csv)
    } else if lower.ends_with(".parquet") || lower.ends_with(".pq") {
        Some(FileFormat::Parquet)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("2GB"), Some(2_000_000_000));
        assert_eq!(parse_size("512 MiB"), Some(512 * 1024 * 1024));
        assert_eq!(parse_size("1000"), Some(1000));
        assert_eq!(parse_size("lots"), None);
    }
}

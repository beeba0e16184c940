//! Reading a project's TOML files into the raw model.
//!
//! Each file is parsed once into toml's spanned document tree. The tree is
//! walked table by table: unknown keys are collected (all of them, with a
//! "did you mean"), then each object (`[kpis.revenue]`, `[sources.orders]`,
//! …) is deserialized on its own, so one bad object does not hide problems in
//! the next one and every error keeps its position.

use std::path::Path;
use std::sync::Arc;

use serde::de::{DeserializeOwned, IntoDeserializer};
use serde_aux::serde_introspection::serde_introspect;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::diagnostic::{Diagnostics, suggestion};
use super::raw::{
    Entry, RawAlert, RawBreakdown, RawCsvOptions, RawEmail, RawEngine, RawFunnel, RawKpi, RawProjectFile, RawReport,
    RawReportFile, RawSmtp, RawSource, RawStage, RawTable, RawTables, RawTargetMeasure, RawView, RawWatch,
};
use super::source_file::{Location, SourceFile};

/// A parsed file and its text.
pub struct Loaded<R> {
    /// The file, for diagnostics.
    pub file: Arc<SourceFile>,
    /// What it holds.
    pub raw: R,
}

/// Everything read from disk, before validation.
pub struct LoadedProject {
    /// `warroom.toml`, when present.
    pub project: Option<Loaded<RawProjectFile>>,
    /// `reports/*.toml` by report id (file stem), sorted by file name.
    pub reports: Vec<(String, Loaded<RawReportFile>)>,
}

/// Reads `warroom.toml` and every `reports/*.toml` under `root`.
pub fn load(root: &Path, diags: &mut Diagnostics) -> LoadedProject {
    let project = read(root, "warroom.toml", diags).map(|file| {
        let raw = parse_project_file(&file, diags);
        Loaded { file, raw }
    });
    let mut reports = Vec::new();
    let reports_dir = root.join("reports");
    let mut names: Vec<String> = match std::fs::read_dir(&reports_dir) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".toml") && !name.starts_with('.'))
            .collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    for name in names {
        let id = name.trim_end_matches(".toml").to_string();
        if let Some(file) = read(root, &format!("reports/{name}"), diags) {
            if !is_valid_id(&id) {
                diags.push(super::diagnostic::Diagnostic::in_file(
                    file.path.clone(),
                    "report",
                    format!("report id `{id}` (the file name) must match [a-z][a-z0-9_]*"),
                ));
                continue;
            }
            let raw = parse_report_file(&file, diags);
            reports.push((id, Loaded { file, raw }));
        }
    }
    LoadedProject { project, reports }
}

/// Whether `id` matches `[a-z][a-z0-9_]*`.
pub fn is_valid_id(id: &str) -> bool {
    let mut chars = id.chars();
    matches!(chars.next(), Some('a'..='z')) && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
}

fn read(root: &Path, relative: &str, diags: &mut Diagnostics) -> Option<Arc<SourceFile>> {
    let path = root.join(relative);
    match std::fs::read_to_string(&path) {
        Ok(text) => Some(SourceFile::new(relative, text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            diags.push(super::diagnostic::Diagnostic::in_file(
                relative,
                "file",
                format!("cannot read: {e}"),
            ));
            None
        }
    }
}

/// Parses a file into toml's spanned tree; a syntax error is reported.
fn parse_toml<'t>(file: &'t Arc<SourceFile>, diags: &mut Diagnostics) -> Option<DeTable<'t>> {
    match DeTable::parse(&file.text) {
        Ok(table) => Some(table.into_inner()),
        Err(e) => {
            let span = e.span().unwrap_or(0..0);
            let message = e.message().trim().to_string();
            diags.error(&Location::new(file, span), "toml", format!("invalid TOML: {message}"));
            None
        }
    }
}

/// Walks one file's document tree.
struct Walker<'a> {
    file: &'a Arc<SourceFile>,
    diags: &'a mut Diagnostics,
}

fn parse_project_file(file: &Arc<SourceFile>, diags: &mut Diagnostics) -> RawProjectFile {
    let mut raw = RawProjectFile::default();
    let Some(root) = parse_toml(file, diags) else {
        return raw;
    };
    let mut w = Walker { file, diags };
    w.check_keys(&root, RawProjectFile::KEYS, "warroom.toml");
    for (key, value) in &root {
        match key.get_ref().as_ref() {
            "sources" | "views" => w.catalog(key.get_ref(), value, &mut raw.catalog),
            "engine" => raw.engine = w.object::<RawEngine>(value, "engine"),
            "smtp" => raw.smtp = w.object::<RawSmtp>(value, "smtp"),
            "watch" => raw.watch = w.object::<RawWatch>(value, "watch"),
            _ => {}
        }
    }
    raw
}

fn parse_report_file(file: &Arc<SourceFile>, diags: &mut Diagnostics) -> RawReportFile {
    let mut raw = RawReportFile::default();
    let Some(root) = parse_toml(file, diags) else {
        return raw;
    };
    let mut w = Walker { file, diags };
    w.check_keys(&root, RawReportFile::KEYS, "report file");
    for (key, value) in &root {
        match key.get_ref().as_ref() {
            "report" => {
                raw.report = w
                    .object::<RawReport>(value, "report")
                    .map(|r| Spanned::new(key.span(), r));
            }
            "sources" | "views" => w.catalog(key.get_ref(), value, &mut raw.catalog),
            "kpis" => {
                raw.declared_kpis = table_ids(value);
                raw.kpis = w.entries(value, "kpis", RawKpi::checked);
            }
            "breakdowns" => raw.breakdowns = w.entries(value, "breakdowns", RawBreakdown::checked),
            "funnels" => raw.funnels = w.entries(value, "funnels", RawFunnel::checked),
            "tables" => raw.tables = w.entries(value, "tables", RawTable::checked),
            "alerts" => raw.alerts = w.entries(value, "alerts", RawAlert::checked),
            "email" => raw.email = w.object::<RawEmail>(value, "email"),
            _ => {}
        }
    }
    raw
}

/// The ids of a `[section.<id>]` family, whether or not they are valid.
fn table_ids(value: &Spanned<DeValue>) -> Vec<String> {
    match value.get_ref() {
        DeValue::Table(table) => table.keys().map(|k| k.get_ref().to_string()).collect(),
        _ => Vec::new(),
    }
}

/// Per-type checks of nested tables before deserializing.
trait Checked: Sized {
    fn checked(w: &mut Walker, value: &Spanned<DeValue>, object: &str) -> Option<Self>;
}

impl Checked for RawView {
    fn checked(w: &mut Walker, value: &Spanned<DeValue>, object: &str) -> Option<Self> {
        w.object(value, object)
    }
}

impl Checked for RawSource {
    fn checked(w: &mut Walker, value: &Spanned<DeValue>, object: &str) -> Option<Self> {
        let value = w.nested(value, "csv", serde_introspect::<RawCsvOptions>(), object);
        w.object(&value, object)
    }
}

impl Checked for RawTable {
    fn checked(w: &mut Walker, value: &Spanned<DeValue>, object: &str) -> Option<Self> {
        w.object(value, object)
    }
}

impl Checked for RawAlert {
    fn checked(w: &mut Walker, value: &Spanned<DeValue>, object: &str) -> Option<Self> {
        w.object(value, object)
    }
}

impl Checked for RawFunnel {
    fn checked(w: &mut Walker, value: &Spanned<DeValue>, object: &str) -> Option<Self> {
        let mut value = value.clone();
        if let DeValue::Table(table) = value.get_mut()
            && let Some(stages) = table.get_mut("stages")
            && let DeValue::Array(stages) = stages.get_mut()
        {
            let known = serde_introspect::<RawStage>();
            for (i, stage) in stages.iter_mut().enumerate() {
                if let DeValue::Table(stage) = stage.get_mut() {
                    w.keep_known(stage, known, &format!("{object}.stages[{i}]"));
                }
            }
        }
        w.object(&value, object)
    }
}

impl Checked for RawBreakdown {
    fn checked(w: &mut Walker, value: &Spanned<DeValue>, object: &str) -> Option<Self> {
        let mut value = value.clone();
        if let DeValue::Table(table) = value.get_mut()
            && let Some(targets) = table.get_mut("targets")
            && let DeValue::Table(targets) = targets.get_mut()
        {
            let known = serde_introspect::<RawTargetMeasure>();
            for (kpi, target) in targets.iter_mut() {
                if let DeValue::Table(target) = target.get_mut() {
                    w.keep_known(target, known, &format!("{object}.targets.{}", kpi.get_ref()));
                }
            }
        }
        w.object(&value, object)
    }
}

impl Checked for RawKpi {
    fn checked(w: &mut Walker, value: &Spanned<DeValue>, object: &str) -> Option<Self> {
        let value = w.nested(value, "target", serde_introspect::<RawTargetMeasure>(), object);
        w.object(&value, object)
    }
}

impl Walker<'_> {
    fn location(&self, span: std::ops::Range<usize>) -> Location {
        Location::new(self.file, span)
    }

    /// Reports every key of `table` not in `known`; true when there is none.
    fn check_keys(&mut self, table: &DeTable, known: &[&str], object: &str) -> bool {
        let mut clean = true;
        for key in table.keys() {
            let name: &str = key.get_ref();
            if !known.contains(&name) {
                clean = false;
                let hint = suggestion(name, known.iter().copied());
                self.diags.error(
                    &self.location(key.span()),
                    object,
                    format!("unknown key `{name}`{hint}"),
                );
            }
        }
        clean
    }

    /// Reports unknown keys of the sub-table `key` (when it is a table) and
    /// returns a copy of `value` without them.
    fn nested<'v>(
        &mut self,
        value: &Spanned<DeValue<'v>>,
        key: &str,
        known: &[&str],
        object: &str,
    ) -> Spanned<DeValue<'v>> {
        let mut value = value.clone();
        if let DeValue::Table(table) = value.get_mut()
            && let Some(inner) = table.get_mut(key)
            && let DeValue::Table(inner) = inner.get_mut()
        {
            self.keep_known(inner, known, &format!("{object}.{key}"));
        }
        value
    }

    /// Reports the unknown keys of `table` and removes them, so the rest of
    /// the object is still checked.
    fn keep_known(&mut self, table: &mut DeTable, known: &[&str], object: &str) {
        if !self.check_keys(table, known, object) {
            *table = std::mem::take(table)
                .into_iter()
                .filter(|(k, _)| known.contains(&k.get_ref().as_ref()))
                .collect();
        }
    }

    /// Deserializes one object after checking its keys.
    fn object<T: DeserializeOwned>(&mut self, value: &Spanned<DeValue>, object: &str) -> Option<T> {
        let mut value = value.clone();
        let DeValue::Table(table) = value.get_mut() else {
            let found = value.get_ref().type_str();
            self.diags.error(
                &self.location(value.span()),
                object,
                format!("expected a table, found {found}"),
            );
            return None;
        };
        // Unknown keys are reported here; the rest of the object is still
        // checked, so fixing one problem does not reveal the next.
        self.keep_known(table, serde_introspect::<T>(), object);
        let whole = value.span();
        match T::deserialize(value.into_deserializer()) {
            Ok(v) => Some(v),
            Err(e) => {
                let span = e.span().unwrap_or(whole);
                let message = e.message().trim().to_string();
                self.diags.error(&self.location(span), object, message);
                None
            }
        }
    }

    /// Reads a `sources` or `views` section.
    fn catalog(&mut self, section: &str, value: &Spanned<DeValue>, tables: &mut RawTables) {
        tables.declared.extend(table_ids(value));
        if section == "sources" {
            tables.sources = self.entries(value, "sources", RawSource::checked);
        } else {
            tables.views = self.entries(value, "views", RawView::checked);
        }
    }

    /// The entries of a `[section.<id>]` family, each checked on its own.
    fn entries<T>(
        &mut self,
        value: &Spanned<DeValue>,
        section: &str,
        parse: fn(&mut Walker, &Spanned<DeValue>, &str) -> Option<T>,
    ) -> Vec<Entry<T>> {
        let DeValue::Table(table) = value.get_ref() else {
            let found = value.get_ref().type_str();
            self.diags.error(
                &self.location(value.span()),
                section,
                format!("expected a table of {section} by id, found {found}"),
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for (key, value) in table {
            let id: &str = key.get_ref();
            let object = format!("{section}.{id}");
            if !is_valid_id(id) {
                self.diags.error(
                    &self.location(key.span()),
                    &object,
                    format!("id `{id}` must match [a-z][a-z0-9_]*"),
                );
                continue;
            }
            if let Some(v) = parse(self, value, &object) {
                out.push(Entry {
                    id: id.to_string(),
                    id_span: key.span(),
                    value: v,
                });
            }
        }
        out
    }
}

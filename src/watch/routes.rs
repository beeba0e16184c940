//! From changed paths to the reports to re-run: a data file belongs to the
//! sources whose path, folder or glob covers it; a report reads the sources
//! its KPIs, targets, funnels and tables name, directly or through views.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::config::model::{KpiDef, Project, Report, SourceDef, TableDef, TableKind, TargetDef};
use crate::engine::sources::{has_glob, is_temporary};
use crate::engine::sql;
use crate::engine::tables::resolve_reads;

/// The reports (by id) that read any of the data files `paths`.
pub fn reports_reading(project: &Project, paths: &BTreeSet<PathBuf>) -> BTreeSet<String> {
    project
        .reports
        .values()
        .filter(|report| {
            let read = sources_read(project, report);
            tables_of(project, report)
                .filter_map(|t| match &t.kind {
                    TableKind::Source(def) if read.contains(&t.id) => Some(def),
                    _ => None,
                })
                .any(|def| paths.iter().any(|p| covers(&project.root, def, p)))
        })
        .map(|report| report.id.clone())
        .collect()
}

/// The reports a change to the definition files `paths` concerns: the
/// report whose file it is, or every report for `warroom.toml` and templates.
pub fn reports_defined_by(project: &Project, paths: &BTreeSet<PathBuf>) -> BTreeSet<String> {
    let reports_dir = project.root.join("reports");
    let mut found = BTreeSet::new();
    for path in paths {
        match path.parent() {
            Some(dir) if dir == reports_dir => {
                let id = path.file_stem().map(|s| s.to_string_lossy().into_owned());
                found.extend(id.filter(|id| project.reports.contains_key(id)));
            }
            _ => return project.reports.keys().cloned().collect(),
        }
    }
    found
}

/// The folders holding every source's files, without folders inside others
/// (they are watched recursively).
pub fn source_folders(project: &Project) -> Vec<PathBuf> {
    let mut folders: Vec<PathBuf> = project
        .reports
        .values()
        .flat_map(|report| tables_of(project, report))
        .filter_map(|t| match &t.kind {
            TableKind::Source(def) => Some(source_folder(&project.root, def)),
            TableKind::View(_) => None,
        })
        .collect();
    folders.sort();
    folders.dedup();
    let nested: Vec<PathBuf> = folders
        .iter()
        .filter(|f| folders.iter().any(|other| other != *f && f.starts_with(other)))
        .cloned()
        .collect();
    folders.retain(|f| !nested.contains(f));
    folders
}

/// The folder a source's files are in: the folder itself, a file's folder,
/// or the part of a glob before its first wildcard.
fn source_folder(root: &Path, def: &SourceDef) -> PathBuf {
    let full = root.join(&def.path);
    if has_glob(&def.path) {
        let fixed: PathBuf = Path::new(&def.path)
            .components()
            .take_while(|c| !has_glob(&c.as_os_str().to_string_lossy()))
            .collect();
        root.join(fixed)
    } else if full.is_dir() {
        full
    } else {
        full.parent().map_or_else(|| root.to_path_buf(), Path::to_path_buf)
    }
}

/// Whether `path` is (or was, for a deletion) one of the source's files;
/// the same rule as the files a source reads.
fn covers(root: &Path, def: &SourceDef, path: &Path) -> bool {
    if is_temporary(path) {
        return false;
    }
    let full = root.join(&def.path);
    if has_glob(&def.path) {
        glob::Pattern::new(&full.to_string_lossy()).is_ok_and(|p| p.matches_path(path))
    } else if path == full {
        true
    } else {
        // A folder source reads the files directly inside it with its extension.
        path.parent() == Some(full.as_path())
            && path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case(def.format.extension()))
    }
}

/// Shared tables and the report's own.
fn tables_of<'a>(project: &'a Project, report: &'a Report) -> impl Iterator<Item = &'a TableDef> {
    project.tables.values().chain(report.tables.values())
}

/// The source ids a report reads, following views.
fn sources_read(project: &Project, report: &Report) -> BTreeSet<String> {
    let mut named: BTreeSet<String> = BTreeSet::new();
    for kpi in report.kpis.values() {
        if let KpiDef::Measure(def) = &kpi.def {
            named.insert(def.table.clone());
        }
        if let Some(TargetDef::Measure(def)) = &kpi.target {
            named.insert(def.table.clone());
        }
    }
    for breakdown in report.breakdowns.values() {
        named.extend(breakdown.targets.values().map(|def| def.table.clone()));
    }
    named.extend(report.funnels.values().map(|f| f.table.clone()));
    for table in report.table_queries.values() {
        if let Ok(query) = sql::parse_query(&table.sql.text) {
            named.extend(sql::query_relations(&query));
        }
    }
    let all: Vec<&TableDef> = tables_of(project, report).collect();
    let reads = resolve_reads(&all, &mut Vec::new());
    named.iter().filter_map(|t| reads.get(t)).flatten().cloned().collect()
}

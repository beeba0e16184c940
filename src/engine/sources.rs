//! Sources: data files registered as DataFusion tables.
//!
//! A source is listed and its schema inferred once per run; the resulting
//! table provider is shared by every report (small CSV sources are parsed
//! once and kept in memory). Columns pinned in
//! `[sources.<id>.csv] schema` replace the inferred types, because DataFusion
//! infers CSV types from the first rows only. When reading fails (a corrupt
//! Parquet file, a CSV value that breaks its column type) the files are read
//! one by one to name the one at fault.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::view::ViewTable;
use datafusion::catalog::{MemTable, TableProvider};
use datafusion::datasource::file_format::csv::CsvFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::error::DataFusionError;
use datafusion::execution::session_state::SessionState;
use datafusion::functions::expr_fn::nullif;
use datafusion::logical_expr::{cast, ident, lit};
use futures::TryStreamExt;

use crate::config::diagnostic::{Diagnostic, suggestion};
use crate::config::model::{FileFormat, SourceDef, TableDef};

/// A source ready to query.
#[derive(Debug, Clone)]
pub struct LoadedSource {
    /// The table id.
    pub id: String,
    /// `sources.<id>`.
    pub object: String,
    /// The files it reads, relative to the project root, sorted.
    pub files: Vec<String>,
    /// The table DataFusion scans.
    pub provider: Arc<dyn TableProvider>,
    definition: SourceDef,
    root: PathBuf,
}

/// Lists, infers and pins a source's schema.
pub async fn load_source(
    state: &SessionState,
    root: &Path,
    table: &TableDef,
    def: &SourceDef,
) -> Result<LoadedSource, Vec<Diagnostic>> {
    let files = list_files(root, def);
    if files.is_empty() {
        let what = if has_glob(&def.path) {
            "matches no file"
        } else {
            "does not exist"
        };
        return Err(vec![Diagnostic::at(
            &def.path_location,
            format!("{}.path", table.object),
            format!("`{}` {what}", def.path),
        )]);
    }
    if def.format == FileFormat::Parquet {
        let broken: Vec<Diagnostic> = files
            .iter()
            .filter_map(|file| {
                check_parquet_footer(&root.join(file))
                    .err()
                    .map(|m| Diagnostic::in_file(file.clone(), &table.object, m))
            })
            .collect();
        if !broken.is_empty() {
            return Err(broken);
        }
    }
    let options = listing_options(def);
    let urls = file_urls(root, &files)
        .map_err(|e| vec![Diagnostic::in_file(def.path.clone(), &table.object, clean_message(&e))])?;
    let inferred = match infer_schema(state, &options, &urls).await {
        Ok(schema) => schema,
        Err(e) => {
            // Name the file that cannot be read.
            for (file, url) in files.iter().zip(&urls) {
                if let Err(e) = infer_schema(state, &options, std::slice::from_ref(url)).await {
                    return Err(vec![data_error(&table.object, file, &e, None)]);
                }
            }
            return Err(vec![Diagnostic::in_file(
                def.path.clone(),
                &table.object,
                clean_message(&e),
            )]);
        }
    };
    let schema = pin_types(state, &table.object, def, &inferred, &files).await?;
    let provider = build_provider(state, urls, def, options, schema)
        .map_err(|e| vec![Diagnostic::in_file(def.path.clone(), &table.object, clean_message(&e))])?;
    let mut loaded = LoadedSource {
        id: table.id.clone(),
        object: table.object.clone(),
        files,
        provider,
        definition: def.clone(),
        root: root.to_path_buf(),
    };
    if def.format == FileFormat::Csv && total_size(root, &loaded.files) <= CSV_IN_MEMORY_BYTES {
        loaded.provider = match in_memory(state, &loaded.provider).await {
            Ok(provider) => provider,
            Err(e) => {
                let found = loaded.find_bad_file(state).await;
                return Err(vec![
                    found.unwrap_or_else(|| data_error(&table.object, &def.path, &e, None)),
                ]);
            }
        };
    }
    Ok(loaded)
}

/// CSV sources up to this size (in all) are parsed once per run and kept in
/// memory: every report reads them from there instead of parsing the text
/// again, and joins see their exact row count, so the small side of a join
/// with a large Parquet table is the one hashed.
const CSV_IN_MEMORY_BYTES: u64 = 64 << 20;

fn total_size(root: &Path, files: &[String]) -> u64 {
    files
        .iter()
        .filter_map(|f| std::fs::metadata(root.join(f)).ok())
        .map(|m| m.len())
        .sum()
}

/// Reads a table whole into a [`MemTable`].
async fn in_memory(
    state: &SessionState,
    provider: &Arc<dyn TableProvider>,
) -> Result<Arc<dyn TableProvider>, DataFusionError> {
    let ctx = datafusion::prelude::SessionContext::new_with_state(state.clone());
    let batches = ctx.read_table(Arc::clone(provider))?.collect().await?;
    Ok(Arc::new(MemTable::try_new(provider.schema(), vec![batches])?))
}

impl LoadedSource {
    /// Reads every file on its own and returns the first that fails, as a
    /// diagnostic naming the file and, for CSV, the column.
    pub async fn find_bad_file(&self, state: &SessionState) -> Option<Diagnostic> {
        let schema = self.provider.schema();
        for file in &self.files {
            let url = ListingTableUrl::parse(self.root.join(file).to_string_lossy()).ok()?;
            let options = listing_options(&self.definition);
            let Ok(provider) = build_provider(state, vec![url], &self.definition, options, schema.clone()) else {
                continue;
            };
            let ctx = datafusion::prelude::SessionContext::new_with_state(state.clone());
            let Ok(frame) = ctx.read_table(provider) else { continue };
            let result = async {
                let mut stream = frame.execute_stream().await?;
                while stream.try_next().await?.is_some() {}
                Ok::<_, DataFusionError>(())
            }
            .await;
            if let Err(e) = result {
                let mut found = data_error(&self.object, file, &e, Some(&schema));
                if !found.message.contains("column")
                    && let Some(column) = self.failing_column(state, file).await
                {
                    found.message.push_str(&format!(" (column `{column}`)"));
                }
                return Some(found);
            }
        }
        None
    }
}

impl LoadedSource {
    /// The first column that cannot be read from `file` on its own.
    async fn failing_column(&self, state: &SessionState, file: &str) -> Option<String> {
        let url = ListingTableUrl::parse(self.root.join(file).to_string_lossy()).ok()?;
        let schema = self.provider.schema();
        let options = listing_options(&self.definition);
        let provider = build_provider(state, vec![url], &self.definition, options, schema.clone()).ok()?;
        let ctx = datafusion::prelude::SessionContext::new_with_state(state.clone());
        for field in schema.fields() {
            let frame = ctx
                .read_table(Arc::clone(&provider))
                .ok()?
                .select_columns(&[field.name()])
                .ok()?;
            let failed = async {
                let mut stream = frame.execute_stream().await?;
                while stream.try_next().await?.is_some() {}
                Ok::<_, DataFusionError>(())
            }
            .await
            .is_err();
            if failed {
                return Some(field.name().clone());
            }
        }
        None
    }
}

/// The table over a source's files. DataFusion applies a CSV null value
/// only while inferring types, so with `null_value` set the files are read
/// as text and each column is turned to NULL where it equals the null value,
/// then cast to its type.
fn build_provider(
    state: &SessionState,
    urls: Vec<ListingTableUrl>,
    def: &SourceDef,
    options: ListingOptions,
    schema: SchemaRef,
) -> Result<Arc<dyn TableProvider>, DataFusionError> {
    let null_value = match (&def.format, &def.csv.null_value) {
        (FileFormat::Csv, Some(value)) if !value.is_empty() => value.clone(),
        _ => return listing_table(urls, options, schema),
    };
    let text_schema = Arc::new(Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| Field::new(f.name(), DataType::Utf8, true))
            .collect::<Vec<_>>(),
    ));
    let raw = listing_table(urls, options, text_schema)?;
    let ctx = datafusion::prelude::SessionContext::new_with_state(state.clone());
    let columns = schema.fields().iter().map(|f| {
        let text = nullif(ident(f.name()), lit(null_value.clone()));
        cast(text, f.data_type().clone()).alias(f.name())
    });
    let plan = ctx.read_table(raw)?.select(columns)?.logical_plan().clone();
    Ok(Arc::new(ViewTable::new(plan, None)))
}

/// Rejects files that end without Parquet's footer, which the reader does
/// not always handle gracefully.
fn check_parquet_footer(path: &Path) -> Result<(), String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let size = file.metadata().map_err(|e| format!("cannot read: {e}"))?.len();
    let mut head = [0u8; 4];
    let mut tail = [0u8; 8];
    let ok = size >= 12
        && file.read_exact(&mut head).is_ok()
        && file.seek(SeekFrom::End(-8)).is_ok()
        && file.read_exact(&mut tail).is_ok()
        && &head == b"PAR1"
        && &tail[4..] == b"PAR1"
        && u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]])) + 12 <= size;
    if ok {
        Ok(())
    } else {
        Err("not a valid Parquet file (missing or corrupt footer)".into())
    }
}

fn listing_options(def: &SourceDef) -> ListingOptions {
    let options = match def.format {
        FileFormat::Parquet => ListingOptions::new(Arc::new(ParquetFormat::default())),
        FileFormat::Csv => {
            let null_regex = def.csv.null_value.as_ref().map(|v| format!("^{}$", regex::escape(v)));
            let format = CsvFormat::default()
                .with_delimiter(def.csv.delimiter)
                .with_has_header(def.csv.header)
                .with_null_regex(null_regex);
            ListingOptions::new(Arc::new(format))
        }
    };
    // The files are listed by `list_files`, one URL each.
    options.with_file_extension("")
}

fn listing_table(
    urls: Vec<ListingTableUrl>,
    options: ListingOptions,
    schema: SchemaRef,
) -> Result<Arc<dyn TableProvider>, DataFusionError> {
    let config = ListingTableConfig::new_with_multi_paths(urls)
        .with_listing_options(options)
        .with_schema(schema);
    Ok(Arc::new(ListingTable::try_new(config)?))
}

fn file_urls(root: &Path, files: &[String]) -> Result<Vec<ListingTableUrl>, DataFusionError> {
    files
        .iter()
        .map(|f| ListingTableUrl::parse(root.join(f).to_string_lossy()))
        .collect()
}

/// The schema of all `urls` together, as DataFusion infers it.
async fn infer_schema(
    state: &SessionState,
    options: &ListingOptions,
    urls: &[ListingTableUrl],
) -> Result<SchemaRef, DataFusionError> {
    use datafusion::object_store::ObjectStoreExt as _;
    let store = state.runtime_env().object_store(&urls[0])?;
    let mut objects = Vec::with_capacity(urls.len());
    for url in urls {
        objects.push(store.head(url.prefix()).await?);
    }
    options.format.infer_schema(state, &store, &objects).await
}

/// Whether a source path is a glob pattern.
pub fn has_glob(path: &str) -> bool {
    path.contains(['*', '?', '['])
}

/// The files a source reads, relative to `root`, skipping hidden and
/// temporary names (`.x`, `x~`, `x.tmp`, `x.part`).
pub fn list_files(root: &Path, def: &SourceDef) -> Vec<String> {
    let full = root.join(&def.path);
    let mut found: Vec<PathBuf> = if has_glob(&def.path) {
        glob::glob(&full.to_string_lossy())
            .map(|paths| paths.filter_map(Result::ok).filter(|p| p.is_file()).collect())
            .unwrap_or_default()
    } else if full.is_dir() {
        std::fs::read_dir(&full)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.is_file())
                    .filter(|p| {
                        p.extension()
                            .is_some_and(|e| e.eq_ignore_ascii_case(def.format.extension()))
                    })
                    .collect()
            })
            .unwrap_or_default()
    } else if full.is_file() {
        vec![full]
    } else {
        Vec::new()
    };
    found.retain(|p| !is_temporary(p));
    found.sort();
    found
        .into_iter()
        .map(|p| p.strip_prefix(root).unwrap_or(&p).to_string_lossy().into_owned())
        .collect()
}

/// Hidden, editor-backup and partial-download names, which never count as data.
pub fn is_temporary(path: &Path) -> bool {
    let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
    name.starts_with('.') || name.ends_with('~') || name.ends_with(".tmp") || name.ends_with(".part")
}

/// Applies `[sources.<id>.csv] schema` to the inferred schema.
async fn pin_types(
    state: &SessionState,
    object: &str,
    def: &SourceDef,
    inferred: &SchemaRef,
    files: &[String],
) -> Result<SchemaRef, Vec<Diagnostic>> {
    if def.csv.schema.is_empty() {
        return Ok(inferred.clone());
    }
    let mut fields: Vec<Field> = inferred.fields().iter().map(|f| f.as_ref().clone()).collect();
    let mut problems = Vec::new();
    for (column, type_name, location) in &def.csv.schema {
        let object = format!("{object}.csv.schema.{column}");
        let Some(field) = fields.iter_mut().find(|f| f.name() == column) else {
            let names: Vec<&str> = inferred.fields().iter().map(|f| f.name().as_str()).collect();
            let hint = suggestion(column, names.iter().copied());
            problems.push(Diagnostic::at(
                location,
                object,
                format!(
                    "no column `{column}` in {}{hint}",
                    files.first().map_or("the files", String::as_str)
                ),
            ));
            continue;
        };
        match sql_type(state, type_name).await {
            Some(data_type) => *field = Field::new(column, data_type, true),
            None => problems.push(Diagnostic::at(
                location,
                object,
                format!("`{type_name}` is not a SQL type DataFusion knows (try date, timestamp, bigint, double, decimal(18,2), varchar)"),
            )),
        }
    }
    if problems.is_empty() {
        Ok(Arc::new(Schema::new(fields)))
    } else {
        Err(problems)
    }
}

/// The Arrow type DataFusion gives a SQL type name, by planning a cast.
async fn sql_type(state: &SessionState, name: &str) -> Option<DataType> {
    let well_formed = regex::Regex::new(r"^[A-Za-z][A-Za-z0-9_ ]*(\(\s*\d+\s*(,\s*\d+\s*)?\))?$").ok()?;
    if !well_formed.is_match(name.trim()) {
        return None;
    }
    let plan = state
        .create_logical_plan(&format!("SELECT CAST(NULL AS {name})"))
        .await
        .ok()?;
    Some(plan.schema().field(0).data_type().clone())
}

/// A diagnostic for a failure reading `file`, naming the column when the
/// reader says which one (by position).
pub fn data_error(object: &str, file: &str, error: &DataFusionError, schema: Option<&Schema>) -> Diagnostic {
    let mut message = clean_message(error);
    if let Some(schema) = schema
        && let Some(at) = message.find("for column ")
    {
        let digits: String = message[at + 11..].chars().take_while(char::is_ascii_digit).collect();
        if let Ok(index) = digits.parse::<usize>()
            && let Some(field) = schema.fields().get(index)
        {
            let end = at + 11 + digits.len();
            message.replace_range(at..end, &format!("for column `{}`", field.name()));
        }
    }
    Diagnostic::in_file(file, object, message)
}

/// DataFusion's message without its error-kind prefixes and backtraces.
pub fn clean_message(error: &DataFusionError) -> String {
    let root = error.find_root();
    let text = match root {
        DataFusionError::ArrowError(e, _) => e.to_string(),
        DataFusionError::ParquetError(e) => format!("cannot read Parquet: {e}"),
        DataFusionError::External(e) => e.to_string(),
        other => other.to_string(),
    };
    let mut text = text.as_str();
    for prefix in [
        "Error during planning: ",
        "Arrow error: ",
        "External error: ",
        "Parser error: ",
        "Schema error: ",
        "Execution error: ",
        "Optimizer rule 'optimize_projections' failed\ncaused by\n",
    ] {
        text = text.strip_prefix(prefix).unwrap_or(text);
    }
    text.lines().next().unwrap_or(text).trim().to_string()
}

//! A small builder for running the real `warroom` binary on a temporary
//! project: `Test::new().file(..).args(..).run()`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use serde_json::Value;

/// A temporary project and the command to run on it.
pub struct Test {
    dir: tempfile::TempDir,
    args: Vec<String>,
}

/// What a run printed and returned.
#[derive(Debug)]
pub struct Output {
    /// Exit code.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Test {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
            args: Vec::new(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file (folders created), relative to the project.
    pub fn file(self, path: &str, contents: &str) -> Self {
        let full = self.dir.path().join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, contents).unwrap();
        self
    }

    /// Writes a Parquet file from named columns.
    pub fn parquet(self, path: &str, columns: Vec<(&str, ArrayRef)>) -> Self {
        write_parquet(&self.dir.path().join(path), columns);
        self
    }

    /// Sets the arguments (the project folder is added with --project).
    pub fn args(mut self, args: &[&str]) -> Self {
        self.args = args.iter().map(|s| s.to_string()).collect();
        self
    }

    pub fn run(&self) -> Output {
        self.run_with_env(&[])
    }

    /// Runs with extra environment variables (and without the SMTP ones
    /// of the calling environment).
    pub fn run_with_env(&self, env: &[(&str, &str)]) -> Output {
        let mut args = self.args.clone();
        if args.first().is_some_and(|cmd| cmd == "run" || cmd == "check") {
            args.insert(1, "--project".into());
            args.insert(2, self.dir.path().display().to_string());
        }
        let out = Command::new(env!("CARGO_BIN_EXE_warroom"))
            .args(&args)
            .current_dir(self.dir.path())
            .env("RUST_LOG", "off")
            .env_remove("WARROOM_SMTP_URL")
            .env_remove("WARROOM_SMTP_CA_FILE")
            .envs(env.iter().copied())
            .output()
            .expect("warroom runs");
        Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).replace(&self.dir.path().display().to_string(), "$PROJECT"),
        }
    }

    /// Runs and expects success.
    pub fn ok(&self) -> Output {
        let out = self.run();
        assert_eq!(out.code, 0, "expected success:\n{}\n{}", out.stdout, out.stderr);
        out
    }

    /// The results.json of `report` from the last run.
    pub fn results(&self, report: &str) -> Value {
        let path = self.dir.path().join("out").join(report).join("results.json");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        serde_json::from_str(&text).unwrap()
    }

    /// Entries of out/, sorted, to check that nothing half-written is left.
    pub fn out_entries(&self) -> Vec<String> {
        let mut names: Vec<String> = match std::fs::read_dir(self.dir.path().join("out")) {
            Ok(entries) => entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect(),
            Err(_) => Vec::new(),
        };
        names.sort();
        names
    }
}

pub fn write_parquet(path: &PathBuf, columns: Vec<(&str, ArrayRef)>) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let batch = RecordBatch::try_from_iter(columns).unwrap();
    let file = std::fs::File::create(path).unwrap();
    let mut writer = ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
}

pub fn dates(values: &[&str]) -> ArrayRef {
    use datafusion::arrow::array::Date32Array;
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
    Arc::new(Date32Array::from(
        values
            .iter()
            .map(|s| (s.parse::<chrono::NaiveDate>().unwrap() - epoch).num_days() as i32)
            .collect::<Vec<_>>(),
    ))
}

pub fn floats(values: &[f64]) -> ArrayRef {
    Arc::new(datafusion::arrow::array::Float64Array::from(values.to_vec()))
}

pub fn strings(values: &[&str]) -> ArrayRef {
    Arc::new(datafusion::arrow::array::StringArray::from(values.to_vec()))
}

/// A KPI's field as f64, panicking on null.
pub fn num(results: &Value, kpi: &str, field: &str) -> f64 {
    results["kpis"][kpi][field]
        .as_f64()
        .unwrap_or_else(|| panic!("kpis.{kpi}.{field} is {}", results["kpis"][kpi][field]))
}

/// A KPI's trend values.
pub fn trend(results: &Value, kpi: &str) -> Vec<Option<f64>> {
    results["kpis"][kpi]["trend"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["value"].as_f64())
        .collect()
}

/// A KPI's trend labels.
pub fn labels(results: &Value, kpi: &str) -> Vec<String> {
    results["kpis"][kpi]["trend"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["period"].as_str().unwrap().to_string())
        .collect()
}

pub fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

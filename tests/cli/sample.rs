//! The sample project in the repository: its data comes from the
//! generator, and every report checks and runs.

use std::path::{Path, PathBuf};
use std::process::Command;

use datafusion::prelude::{ParquetReadOptions, SessionContext};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(
                files(&path)
                    .into_iter()
                    .map(|(n, b)| (format!("{}/{n}", path.file_name().unwrap().to_string_lossy()), b)),
            );
        } else {
            out.push((
                path.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&path).unwrap(),
            ));
        }
    }
    out.sort();
    out
}

#[test]
fn the_committed_data_is_what_the_generator_writes() {
    let dir = tempfile::tempdir().unwrap();
    let status = Command::new(env!("CARGO_BIN_EXE_warroom-sample"))
        .args(["--out", dir.path().to_str().unwrap()])
        .status()
        .unwrap();
    assert!(status.success());
    let fresh = files(dir.path());
    let committed = files(&repo().join("data"));
    let names = |f: &[(String, Vec<u8>)]| f.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(names(&fresh), names(&committed));
    for ((name, a), (_, b)) in fresh.iter().zip(&committed) {
        assert!(
            a == b,
            "{name} differs from a fresh generation: run `cargo run --bin warroom-sample`"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_sample_report_checks_and_runs() {
    let dir = tempfile::tempdir().unwrap();
    for part in ["reports", "data"] {
        copy_dir(&repo().join(part), &dir.path().join(part));
    }
    std::fs::copy(repo().join("warroom.toml"), dir.path().join("warroom.toml")).unwrap();
    let project = dir.path().to_str().unwrap();
    let check = Command::new(env!("CARGO_BIN_EXE_warroom"))
        .args(["check", "--project", project])
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));
    let run = Command::new(env!("CARGO_BIN_EXE_warroom"))
        .args(["run", "--project", project])
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    for report in [
        "acquisition",
        "nurture",
        "conversion",
        "retention",
        "growth",
        "war_room",
    ] {
        for file in ["results.json", "report.html", "report.md"] {
            assert!(
                dir.path().join("out").join(report).join(file).is_file(),
                "{report}/{file}"
            );
        }
    }
    // The war room's revenue is November's order file summed another way.
    let ctx = SessionContext::new();
    let november = dir.path().join("data/orders/2026-11.parquet");
    let frame = ctx
        .read_parquet(november.to_str().unwrap(), ParquetReadOptions::default())
        .await
        .unwrap();
    let batches = frame
        .aggregate(
            vec![],
            vec![datafusion::functions_aggregate::expr_fn::sum(datafusion::prelude::col(
                "amount",
            ))],
        )
        .unwrap()
        .collect()
        .await
        .unwrap();
    let total = batches[0]
        .column(0)
        .as_any()
        .downcast_ref::<datafusion::arrow::array::Float64Array>()
        .unwrap()
        .value(0);
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("out/war_room/results.json")).unwrap()).unwrap();
    assert_eq!(results["as_of"], "2026-11-30");
    assert_eq!(results["kpis"]["revenue"]["value"].as_f64().unwrap(), total);
    let explain = &results["kpis"]["won_revenue"]["explain"];
    assert!(explain["residual"].as_f64().unwrap().abs() < 1e-6);
}

//! `warroom init DIR`: a small working project to start from — one
//! report, one template that extends the built-in one, and tiny data.

use std::path::Path;
use std::process::ExitCode;

use super::{EXIT_ERROR, EXIT_USAGE};

/// The files of a new project.
const FILES: &[(&str, &str)] = &[
    ("warroom.toml", include_str!("scaffold/warroom.toml")),
    ("reports/sales.toml", include_str!("scaffold/sales.toml")),
    ("templates/sales.html.j2", include_str!("scaffold/sales.html.j2")),
    ("data/orders.csv", include_str!("scaffold/orders.csv")),
    ("data/targets.csv", include_str!("scaffold/targets.csv")),
];

/// Runs `warroom init DIR`.
pub fn init(dir: &Path) -> ExitCode {
    if dir.read_dir().is_ok_and(|mut entries| entries.next().is_some()) {
        eprintln!(
            "error: {} is not empty; init writes a new project into an empty or missing folder",
            dir.display()
        );
        return ExitCode::from(EXIT_USAGE);
    }
    for (path, text) in FILES {
        let target = dir.join(path);
        let written = target
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&target, text));
        if let Err(e) = written {
            eprintln!("error: cannot write {}: {e}", target.display());
            return ExitCode::from(EXIT_ERROR);
        }
    }
    println!("created a warroom project in {}", dir.display());
    println!(
        "next: warroom run --project {}   (then open out/sales/report.html)",
        dir.display()
    );
    ExitCode::SUCCESS
}

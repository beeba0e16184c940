//! Sources: Parquet files, folders and globs, CSV options, views.

use crate::support::{Test, dates, floats, num, strings, trend};

fn monthly_parquet(t: Test) -> Test {
    t.parquet(
        "data/orders/2026-09.parquet",
        vec![
            ("order_date", dates(&["2026-09-03", "2026-09-20"])),
            ("amount", floats(&[100.0, 200.0])),
            ("region", strings(&["n", "s"])),
        ],
    )
    .parquet(
        "data/orders/2026-10.parquet",
        vec![
            ("order_date", dates(&["2026-10-05"])),
            ("amount", floats(&[150.0])),
            ("region", strings(&["n"])),
        ],
    )
    .parquet(
        "data/orders/2026-11.parquet",
        vec![
            ("order_date", dates(&["2026-11-02", "2026-11-10"])),
            ("amount", floats(&[300.0, 100.0])),
            ("region", strings(&["n", "s"])),
        ],
    )
    // A file still being copied never counts.
    .file("data/orders/2026-12.parquet.part", "not yet parquet")
    .file("data/orders/.hidden.parquet", "not parquet")
}

const REPORT: &str = r#"
[report]
history = 3
[kpis.revenue]
source = "orders"
measure = "SUM(amount)"
time = "order_date"
[kpis.north]
source = "north_orders"
measure = "SUM(amount)"
time = "order_date"
"#;

#[test]
fn parquet_folders_and_globs_with_shared_and_local_views() {
    for path in ["data/orders", "data/orders/*.parquet", "data/orders/2026-1*.parquet"] {
        let shared = format!(
            "[sources.orders]\npath = \"{path}\"\n[views.north_orders]\nsql = \"SELECT * FROM orders WHERE region = 'n'\"\n"
        );
        let t = monthly_parquet(Test::new())
            .file("warroom.toml", &shared)
            .file("reports/r.toml", REPORT)
            .args(&["run", "--as-of", "2026-11-30"]);
        t.ok();
        let r = t.results("r");
        let september = if path.ends_with("1*.parquet") { 0.0 } else { 300.0 };
        assert_eq!(
            trend(&r, "revenue"),
            [Some(september), Some(150.0), Some(400.0)],
            "{path}"
        );
        let september = if path.ends_with("1*.parquet") { 0.0 } else { 100.0 };
        assert_eq!(
            trend(&r, "north"),
            [Some(september), Some(150.0), Some(300.0)],
            "{path}"
        );
    }
    // The same view declared in the report instead.
    let local = format!("{REPORT}\n[views.north_orders]\nsql = \"SELECT * FROM orders WHERE region = 'n'\"\n");
    let t = monthly_parquet(Test::new())
        .file("warroom.toml", "[sources.orders]\npath = \"data/orders\"\n")
        .file("reports/r.toml", &local)
        .args(&["run", "--as-of", "2026-11-30"]);
    t.ok();
    assert_eq!(num(&t.results("r"), "north", "value"), 300.0);
}

#[test]
fn csv_options_delimiter_nulls_and_pinned_types() {
    // `month` would be read as text without the pinned type (it has no day),
    // and `NA` is a missing value.
    let t = Test::new()
        .file(
            "data/targets.csv",
            "month;target;note\n2026-10-01;100;a\n2026-11-01;NA;b\n2026-11-01;250;c\n",
        )
        .file(
            "reports/t.toml",
            r#"
[report]
history = 2
[sources.targets]
path = "data/targets.csv"
type = "csv"
[sources.targets.csv]
delimiter = ";"
null_value = "NA"
schema = { month = "date", target = "decimal(10,2)" }
[kpis.target_sum]
source = "targets"
measure = "SUM(target)"
time = "month"
[kpis.target_rows]
source = "targets"
measure = "COUNT(target)"
time = "month"
"#,
        )
        .args(&["run", "--as-of", "2026-11-30"]);
    t.ok();
    let r = t.results("t");
    assert_eq!(trend(&r, "target_sum"), [Some(100.0), Some(250.0)]);
    assert_eq!(trend(&r, "target_rows"), [Some(1.0), Some(1.0)]);
}

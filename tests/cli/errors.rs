//! What bad input gets: the exact text users see (snapshots), exit code 1,
//! and no half-written output.

use insta::assert_snapshot;

use crate::support::{Test, dates, floats};

const ORDERS: &str = "order_date,amount,region\n2026-10-05,150,north\n2026-11-02,300,north\n";

fn project() -> Test {
    Test::new()
        .file("data/orders.csv", ORDERS)
        .file("warroom.toml", "[sources.orders]\npath = \"data/orders.csv\"\n")
}

fn failing(t: &Test) -> String {
    let out = t.run();
    assert_eq!(out.code, 1, "expected exit 1:\n{}\n{}", out.stdout, out.stderr);
    out.stderr
}

#[test]
fn malformed_toml() {
    let t = project()
        .file("reports/r.toml", "[report]\ntitle = \"x\nhistory = 3\n")
        .args(&["check"]);
    assert_snapshot!(failing(&t));
}

#[test]
fn unknown_keys_across_two_files_all_at_once() {
    let t = project()
        .file("warroom.toml", "[sources.orders]\npath = \"data/orders.csv\"\nformat = \"csv\"\n\n[engine]\nmemory = \"1GB\"\n")
        .file(
            "reports/r.toml",
            "[report]\ntitel = \"Sales\"\n\n[kpis.revenue]\nsource = \"orders\"\nmeasur = \"SUM(amount)\"\ntime = \"order_date\"\n\n[kpis.revenue.target]\nsource = \"orders\"\nmeasure = \"SUM(amount)\"\ntime = \"order_date\"\nfliter = \"TRUE\"\n",
        )
        .args(&["check"]);
    assert_snapshot!(failing(&t));
}

#[test]
fn unknown_ids_bad_values_and_misplaced_settings() {
    let t = project()
        .file(
            "reports/r.toml",
            r#"[report]
grain = "months"

[kpis.revenue]
source = "order"
measure = "SUM(amount)"
time = "order_date"
format = "money"

[kpis.both]
source = "orders"
measure = "COUNT(*)"
expr = "revenue * 2"

[kpis.neither]
label = "Nothing"

[kpis.ratio]
expr = "revenue / revenu"
better = "up"

[kpis.quarterly]
source = "orders"
measure = "COUNT(*)"
time = "order_date"
grain = "quarter"

[kpis.mixed]
expr = "quarterly / ratio"
"#,
        )
        .args(&["check"]);
    assert_snapshot!(failing(&t));
}

#[test]
fn mixed_grains_in_an_expr_and_in_drivers() {
    let t = project()
        .file(
            "reports/r.toml",
            r#"[kpis.revenue]
source = "orders"
measure = "SUM(amount)"
time = "order_date"
drivers = ["orders", "quarterly"]

[kpis.orders]
source = "orders"
measure = "COUNT(*)"
time = "order_date"

[kpis.quarterly]
source = "orders"
measure = "COUNT(*)"
time = "order_date"
grain = "quarter"

[kpis.mixed]
expr = "quarterly / orders"
"#,
        )
        .args(&["check"]);
    assert_snapshot!(failing(&t));
}

#[test]
fn sql_problems_point_into_the_string() {
    let t = project()
        .file(
            "reports/r.toml",
            r#"[kpis.unknown_column]
source = "orders"
measure = "SUM(amout)"
time = "order_date"

[kpis.no_parse]
source = "orders"
measure = "SUM(amount) +"
time = "order_date"

[kpis.not_aggregate]
source = "orders"
measure = "amount * 2"
time = "order_date"

[kpis.bad_filter]
source = "orders"
measure = "COUNT(*)"
time = "order_date"
filter = "regoin = 'north'"

[kpis.bad_time]
source = "orders"
measure = "COUNT(*)"
time = "region"

[kpis.placeholder]
source = "orders"
measure = "COUNT(*)"
time = "order_date"
filter = "order_date < $period_ned"

[kpis.a]
expr = "b + 1"
[kpis.b]
expr = "c * 2"
[kpis.c]
expr = "a / 3"
"#,
        )
        .args(&["check"]);
    assert_snapshot!(failing(&t));
}

#[test]
fn a_report_may_not_redeclare_a_shared_source() {
    let t = project()
        .file(
            "reports/r.toml",
            "[sources.orders]\npath = \"data/other.csv\"\n\n[views.orders]\nsql = \"SELECT 1\"\n",
        )
        .args(&["check"]);
    assert_snapshot!(failing(&t));
}

#[test]
fn a_view_that_does_not_plan() {
    let t = project()
        .file(
            "reports/r.toml",
            "[views.north]\nsql = \"\"\"\nSELECT *\nFROM orders\nWHERE regio = 'north'\"\"\"\n",
        )
        .args(&["check"]);
    assert_snapshot!(failing(&t));
}

#[test]
fn a_missing_source_file_and_an_empty_glob() {
    let t = Test::new()
        .file(
            "warroom.toml",
            "[sources.orders]\npath = \"data/orders.csv\"\n\n[sources.monthly]\npath = \"data/monthly/*.parquet\"\n",
        )
        .file(
            "reports/r.toml",
            "[kpis.k]\nsource = \"orders\"\nmeasure = \"COUNT(*)\"\ntime = \"d\"\n",
        )
        .args(&["run"]);
    assert_snapshot!(failing(&t));
    assert!(t.out_entries().is_empty());
}

#[test]
fn a_corrupt_parquet_file_among_good_ones_is_named() {
    let t = Test::new()
        .parquet(
            "data/orders/2026-10.parquet",
            vec![("order_date", dates(&["2026-10-05"])), ("amount", floats(&[150.0]))],
        )
        .file("data/orders/2026-11.parquet", "PAR1 this is not really parquet PAR1")
        .file("warroom.toml", "[sources.orders]\npath = \"data/orders/*.parquet\"\n")
        .file(
            "reports/r.toml",
            "[kpis.k]\nsource = \"orders\"\nmeasure = \"SUM(amount)\"\ntime = \"order_date\"\n",
        )
        .args(&["run", "--as-of", "2026-11-30"]);
    assert_snapshot!(failing(&t));
}

#[test]
fn a_csv_value_that_breaks_its_pinned_type() {
    let t = Test::new()
        .file("data/targets.csv", "month,target\n2026-10-01,100\n2026-11-01,lots\n")
        .file(
            "reports/r.toml",
            "[sources.targets]\npath = \"data/targets.csv\"\ncsv = { schema = { month = \"date\", target = \"double\" } }\n\n[kpis.k]\nsource = \"targets\"\nmeasure = \"SUM(target)\"\ntime = \"month\"\n",
        )
        .args(&["run", "--as-of", "2026-11-30"]);
    assert_snapshot!(failing(&t));
}

#[test]
fn a_csv_value_that_breaks_the_inferred_type_after_the_sampled_rows() {
    let mut rows = String::from("order_date,amount\n");
    for i in 0..1500 {
        rows.push_str(&format!("2026-11-{:02},{}\n", i % 28 + 1, i));
    }
    rows.push_str("2026-11-30,n/a\n");
    let t = Test::new()
        .file("data/a.csv", "order_date,amount\n2026-10-01,1\n")
        .file("data/b.csv", &rows)
        .file("reports/r.toml", "[sources.orders]\npath = \"data/*.csv\"\n\n[kpis.k]\nsource = \"orders\"\nmeasure = \"SUM(amount)\"\ntime = \"order_date\"\n")
        .args(&["run", "--as-of", "2026-11-30"]);
    assert_snapshot!(failing(&t));
}

#[test]
fn a_failed_report_leaves_its_previous_outputs_and_the_others_are_written() {
    let good = "[kpis.k]\nsource = \"orders\"\nmeasure = \"SUM(amount)\"\ntime = \"order_date\"\n";
    let t = project()
        .file("reports/a.toml", good)
        .file("reports/b.toml", good)
        .args(&["run", "--as-of", "2026-11-30"]);
    t.ok();
    let before = std::fs::read_to_string(t.path().join("out/a/results.json")).unwrap();
    // Break report a; b still runs, with new data.
    let t = t
        .file("reports/a.toml", &good.replace("SUM(amount)", "SUM(amout)"))
        .file("data/orders.csv", &format!("{ORDERS}2026-11-20,50,south\n"));
    let out = t.run();
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("kpis.k.measure: no column `amout` in `orders` (did you mean `amount`?)"),
        "{}",
        out.stderr
    );
    assert_eq!(
        std::fs::read_to_string(t.path().join("out/a/results.json")).unwrap(),
        before
    );
    assert_eq!(t.results("b")["kpis"]["k"]["value"], 350.0);
    assert_eq!(t.out_entries(), ["a", "b"]);
}

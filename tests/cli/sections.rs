//! Breakdowns, funnels, tables and alerts against hand-computed values.

use insta::assert_snapshot;
use serde_json::{Value, json};

use crate::support::Test;

const ORDERS: &str = "\
order_date,rep,amount
2026-10-05,amy,100
2026-10-06,ben,50
2026-10-07,,30
2026-11-02,amy,200
2026-11-03,cat,100
2026-11-04,,20
";

const QUOTAS: &str = "month,rep,quota\n2026-11-01,amy,150\n2026-11-01,ben,100\n";

const OPPORTUNITIES: &str = "\
id,stage,amount,created_date
1,Closed Won,100,2026-11-02
2,Proposal,50,2026-11-03
3,Closed Won,300,2026-11-04
4,Prospecting,20,2026-11-05
5,Closed Lost,70,2026-11-06
6,Closed Won,999,2026-10-06
";

const REPORT: &str = r#"
[report]
history = 3
as_of = 2026-11-30

[sources.orders]
path = "data/orders.csv"
[sources.quotas]
path = "data/quotas.csv"
[sources.opportunities]
path = "data/opportunities.csv"

[kpis.revenue]
source = "orders"
measure = "SUM(amount)"
time = "order_date"

[kpis.orders]
source = "orders"
measure = "COUNT(*)"
time = "order_date"

[kpis.avg_order]
expr = "revenue / orders"

[breakdowns.by_rep]
kpis = ["revenue", "orders", "avg_order"]
by = ["rep"]
sort = "-revenue.delta_pct"
[breakdowns.by_rep.targets.revenue]
source = "quotas"
measure = "SUM(quota)"
time = "month"

[breakdowns.by_orders]
kpis = ["orders"]
by = ["rep"]
sort = "-orders"
limit = 3
trend = true

[funnels.pipeline]
source = "opportunities"
time = "created_date"
value = "SUM(amount)"
stages = [
  { id = "created", filter = "TRUE" },
  { id = "proposal", label = "Proposal", filter = "stage IN ('Proposal', 'Closed Won', 'Closed Lost')" },
  { id = "won", label = "Won", filter = "stage = 'Closed Won'" },
]

[funnels.empty_start]
source = "opportunities"
time = "created_date"
stages = [
  { id = "nothing", filter = "stage = 'Nope'" },
  { id = "won", filter = "stage = 'Closed Won'" },
]

[tables.recent]
sql = "SELECT rep, amount, order_date FROM orders WHERE order_date >= $period_start AND order_date < $period_end ORDER BY amount DESC"
max_rows = 2

[alerts.falling_rep]
breakdown = "by_rep"
when = "revenue.delta_pct < -0.2"
message = "{{ rep }}: {{ revenue.delta_pct | percent }}"

[alerts.no_target]
kpi = "revenue"
when = "target is none"
severity = "info"

[alerts.below_target]
kpi = "revenue"
when = "attainment < 0.9"
severity = "critical"

[alerts.few_wins]
funnel = "pipeline"
when = "stages.won.step_rate < 0.8"
message = "{{ stages.won.step_rate | percent }} won"
"#;

fn project() -> Test {
    Test::new()
        .file("data/orders.csv", ORDERS)
        .file("data/quotas.csv", QUOTAS)
        .file("data/opportunities.csv", OPPORTUNITIES)
        .file("reports/r.toml", REPORT)
}

fn row<'a>(rows: &'a Value, rep: Option<&str>) -> &'a Value {
    rows.as_array()
        .unwrap()
        .iter()
        .find(|r| r["rep"].as_str() == rep)
        .unwrap()
}

#[test]
fn breakdown_rows_shares_targets_and_sorting() {
    let t = project().args(&["run"]);
    let out = t.ok();
    // KPIs 1 query; by_rep 1 grouped query for both KPIs + 1 for quotas;
    // by_orders 1; two funnels 1 each; the table 1.
    assert!(out.stdout.contains("3 KPIs, 7 queries"), "{}", out.stdout);
    let r = t.results("r");
    let b = &r["breakdowns"]["by_rep"];
    assert_eq!(b["by"], json!(["rep"]));
    assert_eq!(b["overall"]["revenue"]["value"], 320.0);
    let rows = &b["rows"];
    // Union of both months, NULL a row of its own; sorted by delta_pct, nulls last.
    let order: Vec<Value> = rows.as_array().unwrap().iter().map(|r| r["rep"].clone()).collect();
    assert_eq!(order, [json!("amy"), Value::Null, json!("ben"), json!("cat")]);
    let amy = row(rows, Some("amy"));
    assert_eq!(amy["revenue"]["value"], 200.0);
    assert_eq!(amy["revenue"]["previous"], 100.0);
    assert_eq!(amy["revenue"]["delta_pct"], 1.0);
    assert_eq!(amy["revenue"]["share"], 0.625);
    assert_eq!(amy["revenue"]["target"], 150.0);
    assert!((amy["revenue"]["attainment"].as_f64().unwrap() - 200.0 / 150.0).abs() < 1e-12);
    assert_eq!(amy["revenue"]["status"], "good");
    assert_eq!(amy["avg_order"]["value"], 200.0);
    assert_eq!(amy["avg_order"]["share"], Value::Null);
    let ben = row(rows, Some("ben"));
    assert_eq!(ben["revenue"]["value"], 0.0);
    assert_eq!(ben["revenue"]["delta_pct"], -1.0);
    assert_eq!(ben["revenue"]["status"], "bad");
    assert_eq!(ben["avg_order"]["value"], Value::Null);
    let cat = row(rows, Some("cat"));
    assert_eq!(cat["revenue"]["delta_pct"], Value::Null);
    assert_eq!(cat["revenue"]["share"], 0.3125);
    assert_eq!(cat["revenue"]["status"], "none");
    let nobody = row(rows, None);
    assert!((nobody["revenue"]["delta_pct"].as_f64().unwrap() + 1.0 / 3.0).abs() < 1e-12);

    // Ties broken by the `by` values (NULL last), then cut by limit.
    let b = &r["breakdowns"]["by_orders"];
    let order: Vec<Value> = b["rows"].as_array().unwrap().iter().map(|r| r["rep"].clone()).collect();
    assert_eq!(order, [json!("amy"), json!("cat"), Value::Null]);
    let amy = row(&b["rows"], Some("amy"));
    let trend: Vec<f64> = amy["orders"]["trend"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["value"].as_f64().unwrap())
        .collect();
    assert_eq!(trend, [0.0, 1.0, 1.0]);
    assert_eq!(amy["orders"]["zscore"], Value::Null);
}

#[test]
fn funnel_rates_and_a_zero_first_stage() {
    let t = project().args(&["run"]);
    t.ok();
    let r = t.results("r");
    let stages = &r["funnels"]["pipeline"]["stages"];
    // November's cohort: ids 1–5 (id 6 was created in October).
    assert_eq!(
        stages[0],
        json!({"id": "created", "label": "created", "count": 5.0, "value": 540.0, "step_rate": null, "overall_rate": 1.0})
    );
    assert_eq!(stages[1]["count"], 4.0);
    assert_eq!(stages[1]["value"], 520.0);
    assert_eq!(stages[1]["step_rate"], 0.8);
    assert_eq!(stages[2]["count"], 2.0);
    assert_eq!(stages[2]["step_rate"], 0.5);
    assert_eq!(stages[2]["overall_rate"], 0.4);
    let empty = &r["funnels"]["empty_start"]["stages"];
    assert_eq!(empty[0]["count"], 0.0);
    assert_eq!(empty[0]["overall_rate"], Value::Null);
    assert_eq!(empty[1]["count"], 2.0);
    assert_eq!(empty[1]["step_rate"], Value::Null);
}

#[test]
fn a_step_rate_that_can_exceed_one_is_a_warning() {
    let out = project().args(&["run"]).ok();
    assert!(
        out.stderr.contains("warning: reports/r.toml:")
            && out
                .stderr
                .contains("funnels.empty_start.stages.won: some rows reach this stage"),
        "{}",
        out.stderr
    );
}

#[test]
fn check_warns_about_that_step_rate_from_the_data() {
    let out = project().args(&["check"]).ok();
    assert_snapshot!(out.stderr);
    assert!(out.stdout.contains("no problems"), "{}", out.stdout);
}

#[test]
fn a_table_with_placeholders_and_truncation() {
    let t = project().args(&["run"]);
    t.ok();
    let table = &t.results("r")["tables"]["recent"];
    assert_eq!(table["columns"], json!(["rep", "amount", "order_date"]));
    assert_eq!(
        table["rows"],
        json!([["amy", 200.0, "2026-11-02"], ["cat", 100.0, "2026-11-03"]])
    );
    assert_eq!(table["truncated"], true);
}

fn alert_states(r: &Value) -> Vec<(String, String, String)> {
    let mut out: Vec<(String, String, String)> = r["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["key"].as_str().unwrap().into(),
                a["state"].as_str().unwrap().into(),
                a["message"].as_str().unwrap().into(),
            )
        })
        .collect();
    out.sort();
    out
}

fn s(key: &str, state: &str, message: &str) -> (String, String, String) {
    (key.into(), state.into(), message.into())
}

#[test]
fn alerts_fire_per_row_skip_nulls_and_keep_state_across_runs() {
    let t = project().args(&["run"]);
    t.ok();
    let r = t.results("r");
    // `attainment < 0.9` touches a null (no target): it does not fire.
    // `target is none` does. Cat's delta_pct is null: no instance for cat.
    assert_eq!(
        alert_states(&r),
        [
            s("falling_rep[rep=NULL]", "new", ": -33.3%"),
            s("falling_rep[rep=ben]", "new", "ben: -100.0%"),
            s("few_wins", "new", "50.0% won"),
            s("no_target", "new", "no_target"),
        ]
    );
    // Second run on the same data: ongoing.
    t.ok();
    let states: Vec<String> = alert_states(&t.results("r"))
        .into_iter()
        .map(|(_, state, _)| state)
        .collect();
    assert_eq!(states, ["ongoing"; 4]);
    // A backfill reports against the stored states but changes nothing.
    let backfill = t.args(&["run", "--as-of", "2026-10-31"]);
    backfill.ok();
    let t = backfill
        .args(&["run"])
        // Ben sells again in November: his instance resolves, listed once.
        .file("data/orders.csv", &format!("{ORDERS}2026-11-20,ben,45\n"));
    t.ok();
    let r = t.results("r");
    assert_eq!(
        alert_states(&r),
        [
            s("falling_rep[rep=NULL]", "ongoing", ": -33.3%"),
            s("falling_rep[rep=ben]", "resolved", ""),
            s("few_wins", "ongoing", "50.0% won"),
            s("no_target", "ongoing", "no_target"),
        ]
    );
    let resolved = r["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["state"] == "resolved")
        .unwrap();
    assert_eq!(resolved["labels"], json!({"rep": "ben"}));
    t.ok();
    assert!(
        alert_states(&t.results("r"))
            .iter()
            .all(|(key, _, _)| key != "falling_rep[rep=ben]")
    );
}

#[test]
fn fail_on_exit_codes() {
    let t = project().args(&["run", "--fail-on", "warning"]);
    let out = t.run();
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(out.stderr.contains("an alert at or above --fail-on warning fires"));
    // Only info and warning alerts fire: critical is not reached.
    assert_eq!(t.args(&["run", "--fail-on", "critical"]).run().code, 0);
    // A broken report elsewhere wins: exit 1, and this report is still written.
    let t = project()
        .file(
            "reports/broken.toml",
            "[kpis.k]\nsource = \"nowhere\"\nmeasure = \"COUNT(*)\"\ntime = \"d\"\n",
        )
        .args(&["run", "--fail-on", "info"]);
    assert_eq!(t.run().code, 1);
    assert_eq!(t.results("r")["kpis"]["revenue"]["value"], 320.0);
}

#[test]
fn bad_breakdowns_funnels_tables_and_alerts() {
    let bad = r#"
[sources.orders]
path = "data/orders.csv"
[kpis.revenue]
source = "orders"
measure = "SUM(amount)"
time = "order_date"
[breakdowns.by_region]
kpis = ["revenue"]
by = ["region"]
sort = "-revenue.growth"
[tables.t]
sql = "SELECT rep, SUM(amont) FROM orders GROUP BY rep"
[alerts.unknown_kpi]
kpi = "revenu"
when = "value < 1"
[alerts.bad_syntax]
kpi = "revenue"
when = "value <"
[alerts.unknown_name]
kpi = "revenue"
when = "valeu < 1 and target > 0"
[alerts.unknown_filter]
kpi = "revenue"
when = "value < 1"
message = "{{ value | money }}"
"#;
    let t = Test::new()
        .file("data/orders.csv", ORDERS)
        .file("reports/r.toml", bad)
        .args(&["check"]);
    let out = t.run();
    assert_eq!(out.code, 1);
    assert_snapshot!(out.stderr);
    let bad_by = "[sources.orders]\npath = \"data/orders.csv\"\n[kpis.revenue]\nsource = \"orders\"\nmeasure = \"SUM(amount)\"\ntime = \"order_date\"\n[breakdowns.by_region]\nkpis = [\"revenue\"]\nby = [\"regoin\"]\n";
    let t = Test::new()
        .file("data/orders.csv", "order_date,region,amount\n2026-11-01,n,1\n")
        .file("reports/r.toml", bad_by)
        .args(&["check"]);
    let out = t.run();
    assert_eq!(out.code, 1);
    assert_snapshot!(out.stderr);
}

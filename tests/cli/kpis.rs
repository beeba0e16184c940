//! KPI fields against values computed by hand on small fixtures.

use crate::support::{Test, close, labels, num, trend};

const ORDERS: &str = "\
order_date,amount,region
2025-11-10,80,north
2026-07-05,100,north
2026-08-05,200,north
2026-08-20,100,south
2026-09-03,100,north
2026-09-20,200,south
2026-10-05,150,north
2026-10-25,50,south
2026-11-02,300,north
2026-11-10,100,south
2026-11-20,999,north
";

const TARGETS: &str = "\
month,kpi,target
2026-07-01,revenue,100
2026-08-01,revenue,250
2026-09-01,revenue,250
2026-10-01,revenue,250
2026-11-01,revenue,500
2026-12-01,revenue,900
";

const SHARED: &str = r#"
[sources.orders]
path = "data/orders.csv"

[sources.targets]
path = "data/targets.csv"
[sources.targets.csv]
schema = { month = "date", target = "double" }
"#;

const SALES: &str = r#"
[report]
title = "Sales"
history = 5

[kpis.revenue]
label = "營業額"
source = "orders"
measure = "SUM(amount)"
time = "order_date"
format = "currency"
unit = "NT$"
[kpis.revenue.target]
source = "targets"
measure = "SUM(target)"
time = "month"
filter = "kpi = 'revenue'"

[kpis.orders]
source = "orders"
measure = "COUNT(*)"
time = "order_date"
target = 10

[kpis.north]
source = "orders"
measure = "SUM(amount)"
time = "order_date"
filter = "region = 'north'"

[kpis.west]
source = "orders"
measure = "COUNT(*)"
time = "order_date"
filter = "region = 'west'"
better = "lower"
target = 3

[kpis.avg_order]
expr = "revenue / orders"
format = "currency"

[kpis.per_west]
expr = "revenue / west"

[kpis.avg_price]
source = "orders"
measure = "AVG(amount)"
time = "order_date"
target = 210
warn_at = 0.9
"#;

fn sales() -> Test {
    Test::new()
        .file("warroom.toml", SHARED)
        .file("data/orders.csv", ORDERS)
        .file("data/targets.csv", TARGETS)
        .file("reports/sales.toml", SALES)
}

#[test]
fn every_field_of_a_partial_month() {
    let t = sales().args(&["run", "--as-of", "2026-11-15"]);
    let out = t.ok();
    assert!(
        out.stdout
            .contains("sales: 2026-11 as of 2026-11-15, 7 KPIs, 2 queries"),
        "{}",
        out.stdout
    );
    let r = t.results("sales");
    assert_eq!(r["schema_version"], 1);
    assert_eq!(r["as_of"], "2026-11-15");
    assert_eq!(r["period"]["label"], "2026-11");
    assert_eq!(r["period"]["end"], "2026-12-01");
    assert_eq!(r["previous_period"]["label"], "2026-10");
    // Revenue: Nov up to the 15th is 300 + 100 (the 999 on the 20th is after as_of).
    assert_eq!(r["kpis"]["revenue"]["label"], "營業額");
    assert_eq!(r["kpis"]["revenue"]["unit"], "NT$");
    assert_eq!(num(&r, "revenue", "value"), 400.0);
    assert_eq!(num(&r, "revenue", "previous"), 200.0);
    assert_eq!(num(&r, "revenue", "delta"), 200.0);
    assert_eq!(num(&r, "revenue", "delta_pct"), 1.0);
    assert_eq!(num(&r, "revenue", "year_ago"), 80.0);
    assert_eq!(num(&r, "revenue", "yoy_pct"), 4.0);
    assert_eq!(num(&r, "revenue", "pace"), 0.5);
    assert_eq!(num(&r, "revenue", "projected"), 800.0);
    assert_eq!(num(&r, "revenue", "target"), 500.0);
    assert_eq!(num(&r, "revenue", "attainment"), 0.8);
    assert_eq!(num(&r, "revenue", "projected_attainment"), 1.6);
    // Judged on the projection while the month runs: 800 ≥ 500.
    assert_eq!(r["kpis"]["revenue"]["status"], "good");
    // z of the projection against Jul–Oct (100, 300, 300, 200).
    let mean = 225.0;
    let sd = ((125.0f64.powi(2) + 75.0f64.powi(2) * 2.0 + 25.0f64.powi(2)) / 3.0).sqrt();
    assert!(close(num(&r, "revenue", "zscore"), (800.0 - mean) / sd));
    assert_eq!(
        labels(&r, "revenue"),
        ["2026-07", "2026-08", "2026-09", "2026-10", "2026-11"]
    );
    assert_eq!(
        trend(&r, "revenue"),
        [Some(100.0), Some(300.0), Some(300.0), Some(200.0), Some(400.0)]
    );
    let targets: Vec<f64> = r["kpis"]["revenue"]["trend"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["target"].as_f64().unwrap())
        .collect();
    assert_eq!(targets, [100.0, 250.0, 250.0, 250.0, 500.0]);

    // Count with a fixed target: projected 4 of 10, no warn_at → bad.
    assert_eq!(num(&r, "orders", "value"), 2.0);
    assert_eq!(num(&r, "orders", "attainment"), 0.2);
    assert_eq!(num(&r, "orders", "projected_attainment"), 0.4);
    assert_eq!(r["kpis"]["orders"]["status"], "bad");
    assert_eq!(
        trend(&r, "north"),
        [Some(100.0), Some(200.0), Some(100.0), Some(150.0), Some(300.0)]
    );

    // Lower is better with a zero value: met, attainment undefined; empty periods are 0.
    assert_eq!(num(&r, "west", "value"), 0.0);
    assert_eq!(r["kpis"]["west"]["attainment"], serde_json::Value::Null);
    assert_eq!(r["kpis"]["west"]["status"], "good");
    assert_eq!(trend(&r, "west"), [Some(0.0); 5]);
    assert_eq!(r["kpis"]["west"]["delta_pct"], serde_json::Value::Null);

    // Derived: per period, projected from the inputs' projections.
    assert_eq!(num(&r, "avg_order", "value"), 200.0);
    assert_eq!(num(&r, "avg_order", "previous"), 100.0);
    assert_eq!(num(&r, "avg_order", "projected"), 200.0);
    assert_eq!(
        trend(&r, "avg_order"),
        [Some(100.0), Some(150.0), Some(150.0), Some(100.0), Some(200.0)]
    );
    assert_eq!(r["kpis"]["avg_order"]["target"], serde_json::Value::Null);
    // Division by zero is null, never an error.
    assert_eq!(trend(&r, "per_west"), [None; 5]);

    // A non-additive measure: no projection, judged on its value: 200 of 210 ≥ 0.9 → warn.
    assert_eq!(num(&r, "avg_price", "value"), 200.0);
    assert_eq!(r["kpis"]["avg_price"]["projected"], serde_json::Value::Null);
    assert!(close(num(&r, "avg_price", "attainment"), 200.0 / 210.0));
    assert_eq!(r["kpis"]["avg_price"]["status"], "warn");
    assert_eq!(r["breakdowns"], serde_json::json!({}));
    assert_eq!(r["alerts"], serde_json::json!([]));
}

#[test]
fn a_backfill_ignores_later_rows() {
    let t = sales().args(&["run", "--as-of", "2026-10-15"]);
    t.ok();
    let r = t.results("sales");
    assert_eq!(r["period"]["label"], "2026-10");
    assert_eq!(num(&r, "revenue", "value"), 150.0);
    assert_eq!(num(&r, "revenue", "previous"), 300.0);
    assert!(close(num(&r, "revenue", "pace"), 15.0 / 31.0));
    assert_eq!(
        trend(&r, "revenue"),
        [Some(0.0), Some(100.0), Some(300.0), Some(300.0), Some(150.0)]
    );
}

#[test]
fn as_of_comes_from_the_data_after_filters_and_is_capped_at_today() {
    let t = sales().args(&["run"]);
    t.ok();
    // The latest order is 2026-11-20.
    assert_eq!(t.results("sales")["as_of"], "2026-11-20");

    let t = Test::new()
        .file("data/orders.csv", ORDERS)
        .file(
            "reports/small.toml",
            r#"
[sources.orders]
path = "data/orders.csv"
[kpis.small]
source = "orders"
measure = "SUM(amount)"
time = "order_date"
filter = "amount < 500"
"#,
        )
        .args(&["run"]);
    t.ok();
    assert_eq!(t.results("small")["as_of"], "2026-11-10");

    let t = Test::new()
        .file("data/orders.csv", &format!("{ORDERS}2099-01-01,5,north\n"))
        .file(
            "reports/future.toml",
            "[sources.orders]\npath = \"data/orders.csv\"\n[kpis.k]\nsource = \"orders\"\nmeasure = \"SUM(amount)\"\ntime = \"order_date\"\n",
        )
        .args(&["run"]);
    t.ok();
    let today = chrono::Utc::now().date_naive().to_string();
    assert_eq!(t.results("future")["as_of"], today.as_str());
}

#[test]
fn the_last_complete_period_and_the_report_as_of() {
    let report = SALES.replace(
        "history = 5",
        "history = 5\nperiod = \"last_complete\"\nas_of = 2026-11-15",
    );
    let t = sales().file("reports/sales.toml", &report).args(&["run"]);
    t.ok();
    let r = t.results("sales");
    assert_eq!(r["as_of"], "2026-11-15");
    assert_eq!(r["period"]["label"], "2026-10");
    assert_eq!(num(&r, "revenue", "value"), 200.0);
    assert_eq!(num(&r, "revenue", "pace"), 1.0);
    assert_eq!(num(&r, "revenue", "projected"), 200.0);
    assert_eq!(num(&r, "revenue", "target"), 250.0);
    assert_eq!(r["kpis"]["revenue"]["status"], "bad");
    // The command line wins over the report's as_of.
    let t = sales()
        .file("reports/sales.toml", &report)
        .args(&["run", "--as-of", "2026-09-30"]);
    t.ok();
    assert_eq!(t.results("sales")["period"]["label"], "2026-08");
}

const EVENTS: &str = "\
day,n
2023-03-02,1
2024-02-27,1
2024-02-28,2
2024-02-29,1
2024-03-01,7
2026-01-06,1
2026-12-21,4
2026-12-27,1
2026-12-28,1
2027-01-03,1
2027-01-04,1
2027-01-06,9
";

fn grain_report(grain: &str, as_of: &str, history: u32) -> String {
    format!(
        r#"
[report]
grain = "{grain}"
history = {history}
as_of = {as_of}
[sources.events]
path = "data/events.csv"
[kpis.events]
source = "events"
measure = "SUM(n)"
time = "day"
"#
    )
}

#[test]
fn days_weeks_quarters_and_years() {
    let t = Test::new()
        .file("data/events.csv", EVENTS)
        .file("reports/daily.toml", &grain_report("day", "2024-02-29", 3))
        .file("reports/weekly.toml", &grain_report("week", "2027-01-05", 3))
        .file("reports/quarterly.toml", &grain_report("quarter", "2026-11-15", 2))
        .file("reports/yearly.toml", &grain_report("year", "2026-06-30", 3))
        .args(&["run"]);
    t.ok();

    let r = t.results("daily");
    assert_eq!(labels(&r, "events"), ["2024-02-27", "2024-02-28", "2024-02-29"]);
    assert_eq!(trend(&r, "events"), [Some(1.0), Some(2.0), Some(1.0)]);
    assert_eq!(num(&r, "events", "year_ago"), 1.0); // 364 days back: 2023-03-02
    assert_eq!(num(&r, "events", "pace"), 1.0);

    // ISO weeks across the year end; as_of is a Tuesday.
    let r = t.results("weekly");
    assert_eq!(labels(&r, "events"), ["2026-W52", "2026-W53", "2027-W01"]);
    assert_eq!(trend(&r, "events"), [Some(5.0), Some(2.0), Some(1.0)]);
    assert_eq!(r["period"]["start"], "2027-01-04");
    assert!(close(num(&r, "events", "pace"), 2.0 / 7.0));
    assert_eq!(num(&r, "events", "year_ago"), 1.0); // 2026-W02 holds 2026-01-06

    let r = t.results("quarterly");
    assert_eq!(labels(&r, "events"), ["2026-Q3", "2026-Q4"]);
    assert_eq!(trend(&r, "events"), [Some(0.0), Some(0.0)]);
    assert!(close(num(&r, "events", "pace"), 46.0 / 92.0));

    let r = t.results("yearly");
    assert_eq!(labels(&r, "events"), ["2024", "2025", "2026"]);
    assert_eq!(trend(&r, "events"), [Some(11.0), Some(0.0), Some(1.0)]);
    assert!(close(num(&r, "events", "pace"), 181.0 / 365.0));
}

const OPPORTUNITIES: &str = "\
id,owner,stage,amount,created_date,close_date
1,amy,Closed Won,100,2026-08-01,2026-10-03
2,amy,Closed Won,300,2026-08-15,2026-10-12
3,ben,Closed Lost,50,2026-09-01,2026-10-20
4,ben,Closed Lost,60,2026-09-10,2026-10-28
5,amy,Closed Won,100,2026-09-15,2026-11-02
6,cat,Closed Won,200,2026-10-01,2026-11-05
7,cat,Closed Won,300,2026-10-02,2026-11-09
8,ben,Closed Lost,70,2026-10-03,2026-11-12
9,ben,Closed Lost,80,2026-10-04,2026-11-20
10,amy,Proposal,90,2026-11-03,
11,cat,Negotiation,40,2026-07-03,
";

const PIPELINE: &str = r#"
[report]
history = 3
as_of = 2026-11-30

[sources.opportunities]
path = "data/opportunities.csv"

[views.won_deals]
sql = "SELECT * FROM opportunities WHERE stage = 'Closed Won'"

[kpis.closed_deals]
source = "opportunities"
measure = "COUNT(*)"
time = "close_date"
filter = "stage IN ('Closed Won', 'Closed Lost')"
target = 6

[kpis.won_count]
source = "won_deals"
measure = "COUNT(*)"
time = "close_date"

[kpis.won_revenue]
source = "won_deals"
measure = "SUM(amount)"
time = "close_date"
drivers = ["closed_deals", "win_rate", "avg_deal"]
target = 700

[kpis.win_rate]
expr = "won_count / closed_deals"
format = "percent"
target = 0.5

[kpis.avg_deal]
expr = "won_revenue / won_count"
target = 250

[kpis.new_opportunities]
source = "opportunities"
measure = "COUNT(*)"
time = "created_date"
grain = "quarter"
target = 50

[kpis.open_pipeline]
source = "opportunities"
measure = "SUM(amount)"
filter = "created_date < $period_end AND (close_date IS NULL OR close_date >= $period_end)"
"#;

#[test]
fn drivers_split_the_change_exactly() {
    let t = Test::new()
        .file("data/opportunities.csv", OPPORTUNITIES)
        .file("reports/pipeline.toml", PIPELINE)
        .args(&["run"]);
    t.ok();
    let r = t.results("pipeline");
    // October: 4 closed, 2 won for 400. November: 5 closed, 3 won for 600.
    assert_eq!(num(&r, "won_revenue", "value"), 600.0);
    assert_eq!(num(&r, "won_revenue", "previous"), 400.0);
    assert_eq!(num(&r, "win_rate", "value"), 0.6);
    assert_eq!(num(&r, "win_rate", "previous"), 0.5);
    let explain = &r["kpis"]["won_revenue"]["explain"];
    let l = 200.0 / (600f64.ln() - 400f64.ln());
    let shares: Vec<f64> = explain["vs_previous"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["contribution"].as_f64().unwrap())
        .collect();
    assert!(close(shares[0], l * (5.0f64 / 4.0).ln()));
    assert!(close(shares[1], l * (0.6f64 / 0.5).ln()));
    assert!(close(shares[2], 0.0));
    assert!(close(shares.iter().sum::<f64>(), 200.0));
    assert_eq!(explain["vs_previous"][0]["kpi"], "closed_deals");
    assert_eq!(explain["vs_previous"][0]["base"], 4.0);
    assert_eq!(explain["vs_previous"][0]["value"], 5.0);
    assert!(explain["residual"].as_f64().unwrap().abs() < 1e-9);
    // Against the targets: base 6 × 0.5 × 250 = 750; own target gap 600 − 700.
    assert_eq!(explain["target_base"], 750.0);
    assert_eq!(explain["target_gap"], -100.0);
    let l = (600.0 - 750.0) / (600f64.ln() - 750f64.ln());
    let to_target: Vec<f64> = explain["vs_target"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["contribution"].as_f64().unwrap())
        .collect();
    assert!(close(to_target[0], l * (5.0f64 / 6.0).ln()));
    assert!(close(to_target[1], l * (0.6f64 / 0.5).ln()));
    assert!(close(to_target[2], l * (200.0f64 / 250.0).ln()));
    assert!(close(to_target.iter().sum::<f64>(), -150.0));
}

#[test]
fn own_grain_and_stocks() {
    let t = Test::new()
        .file("data/opportunities.csv", OPPORTUNITIES)
        .file("reports/pipeline.toml", PIPELINE)
        .args(&["run"]);
    t.ok();
    let r = t.results("pipeline");
    let own = &r["kpis"]["new_opportunities"];
    assert_eq!(own["period"]["label"], "2026-Q4");
    assert_eq!(own["period"]["grain"], "quarter");
    assert_eq!(labels(&r, "new_opportunities"), ["2026-Q2", "2026-Q3", "2026-Q4"]);
    // Q3: ids 1–5 and 11 (Jul–Sep); Q4: ids 6–10.
    assert_eq!(trend(&r, "new_opportunities"), [Some(0.0), Some(6.0), Some(5.0)]);
    assert!(close(num(&r, "new_opportunities", "pace"), 61.0 / 92.0));
    assert_eq!(num(&r, "new_opportunities", "target"), 50.0);

    // Open at each month end (the current month ends at as_of + 1 day).
    // Sep 30: 1,2 (close Oct), 3,4 (close Oct), 5 (Nov), 11 (open) → 100+300+50+60+100+40.
    // Oct 31: 5,6,7,8,9,11 → 100+200+300+70+80+40. Nov 30 (end Dec 1): 10, 11 → 130.
    assert_eq!(trend(&r, "open_pipeline"), [Some(650.0), Some(790.0), Some(130.0)]);
    assert_eq!(num(&r, "open_pipeline", "previous"), 790.0);
}

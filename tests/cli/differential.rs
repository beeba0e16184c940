//! The fused evaluation against a plain reference evaluator (one query per
//! KPI per period) on generated data, and the number of queries fusion issues.

use std::sync::Arc;

use chrono::{Days, NaiveDate};
use datafusion::arrow::array::{ArrayRef, Date32Array, Float64Array, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use warroom::period::{Grain, Period};

use crate::support::{Test, close, write_parquet};

/// Measures whose aggregates roll up (the two-phase form).
const ROLLING: [&str; 7] = [
    "SUM(amount)",
    "COUNT(*)",
    "AVG(amount)",
    "MAX(amount)",
    "SUM(amount) / COUNT(*)",
    "COUNT(amount)",
    "MIN(amount) + AVG(amount) FILTER (WHERE channel = 'web')",
];
/// A measure that does not roll up, which puts its query in the plain form.
const DISTINCT: &str = "COUNT(DISTINCT region)";
const FILTERS: [Option<&str>; 5] = [
    None,
    Some("region = 'north'"),
    Some("amount > 50"),
    Some("channel IN ('web', 'partner') AND region IS NOT NULL"),
    Some("region = 'nowhere'"),
];
const GRAINS: [Grain; 4] = [Grain::Month, Grain::Week, Grain::Quarter, Grain::Day];

/// Order date, amount, region, channel.
type Row = (NaiveDate, Option<f64>, Option<&'static str>, &'static str);

/// Orders from 2024 to late 2026 with whole months and weeks missing.
fn generate(t: Test) -> Test {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let start = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
    let regions = [Some("north"), Some("south"), Some("east"), None];
    let channels = ["web", "partner", "direct"];
    let mut by_year: std::collections::BTreeMap<i32, Vec<Row>> = Default::default();
    for _ in 0..4000 {
        let date = start + Days::new(rng.random_range(0..1065));
        let gap = (date.format("%Y-%m").to_string() == "2025-03")
            || (date.format("%Y-%m").to_string() == "2026-08")
            || (date >= NaiveDate::from_ymd_opt(2026, 11, 2).unwrap()
                && date < NaiveDate::from_ymd_opt(2026, 11, 9).unwrap());
        if gap {
            continue;
        }
        let amount = if rng.random_bool(0.05) {
            None
        } else {
            Some((rng.random_range(1..20000) as f64) / 100.0)
        };
        let region = regions[rng.random_range(0..regions.len())];
        let channel = channels[rng.random_range(0..channels.len())];
        by_year
            .entry(chrono::Datelike::year(&date))
            .or_default()
            .push((date, amount, region, channel));
    }
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
    for (year, rows) in by_year {
        let columns: Vec<(&str, ArrayRef)> = vec![
            (
                "order_date",
                Arc::new(Date32Array::from(
                    rows.iter().map(|r| (r.0 - epoch).num_days() as i32).collect::<Vec<_>>(),
                )),
            ),
            (
                "amount",
                Arc::new(Float64Array::from(rows.iter().map(|r| r.1).collect::<Vec<_>>())),
            ),
            (
                "region",
                Arc::new(StringArray::from(rows.iter().map(|r| r.2).collect::<Vec<_>>())),
            ),
            (
                "channel",
                Arc::new(StringArray::from(rows.iter().map(|r| Some(r.3)).collect::<Vec<_>>())),
            ),
        ];
        write_parquet(&t.path().join(format!("data/orders/{year}.parquet")), columns);
    }
    t
}

struct KpiSpec {
    id: String,
    measure: &'static str,
    filter: Option<&'static str>,
    grain: Grain,
}

fn specs(measures: &[&'static str]) -> Vec<KpiSpec> {
    let mut out = Vec::new();
    for (i, measure) in measures.iter().enumerate() {
        for (j, filter) in FILTERS.iter().enumerate() {
            let n = i * FILTERS.len() + j;
            out.push(KpiSpec {
                id: format!("k{n}"),
                measure,
                filter: *filter,
                grain: GRAINS[n % GRAINS.len()],
            });
        }
    }
    out
}

fn report_toml(specs: &[KpiSpec]) -> String {
    let mut text =
        String::from("[report]\nhistory = 6\nas_of = 2026-11-17\n\n[sources.orders]\npath = \"data/orders\"\n");
    for s in specs {
        text.push_str(&format!(
            "\n[kpis.{}]\nsource = \"orders\"\nmeasure = \"{}\"\ntime = \"order_date\"\ngrain = \"{}\"\n",
            s.id, s.measure, s.grain
        ));
        if let Some(f) = s.filter {
            text.push_str(&format!("filter = \"{f}\"\n"));
        }
    }
    text
}

/// One query per KPI and period, with the dates written into the SQL.
async fn reference(ctx: &SessionContext, spec: &KpiSpec, period: Period, as_of: NaiveDate) -> Option<f64> {
    let end = period.end_at(as_of);
    let filter = spec.filter.map(|f| format!(" AND ({f})")).unwrap_or_default();
    let sql = format!(
        "SELECT {} AS v, COUNT(*) AS n FROM orders WHERE order_date >= DATE '{}' AND order_date < DATE '{}'{filter}",
        spec.measure, period.start, end
    );
    let batches = ctx.sql(&sql).await.unwrap().collect().await.unwrap();
    let column = cast(batches[0].column(0), &DataType::Float64).unwrap();
    let values = column.as_any().downcast_ref::<Float64Array>().unwrap();
    let additive = matches!(spec.measure, "SUM(amount)" | "COUNT(*)" | "COUNT(amount)");
    let rows = cast(batches[0].column(1), &DataType::Float64).unwrap();
    let rows = rows.as_any().downcast_ref::<Float64Array>().unwrap().value(0);
    let value = (!values.is_null(0)).then(|| values.value(0));
    // Additive: an empty period is 0. Otherwise: null when the KPI has no rows.
    if additive {
        Some(value.unwrap_or(0.0))
    } else if rows == 0.0 {
        None
    } else {
        value
    }
}

use datafusion::arrow::array::Array;

#[tokio::test(flavor = "multi_thread")]
async fn two_phase_fused_queries_agree_with_one_query_per_kpi_and_period() {
    let specs = specs(&ROLLING);
    let t = generate(Test::new())
        .file("reports/wide.toml", &report_toml(&specs))
        .args(&["run"]);
    let out = t.run_with_env(&[("RUST_LOG", "warroom=debug")]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    // 35 KPIs over one table and time column in 4 grains: 4 queries, each
    // in the two-phase form (a failed one would be retried plainly).
    assert!(out.stdout.contains("35 KPIs, 4 queries"), "{}", out.stdout);
    assert!(!out.stderr.contains("two-phase query failed"), "{}", out.stderr);
    assert_eq!(out.stderr.matches("AS \\\"m\\\"").count(), 4, "{}", out.stderr);
    compare(&t, &specs).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn plain_fused_queries_agree_with_one_query_per_kpi_and_period() {
    let mut measures = ROLLING.to_vec();
    measures.push(DISTINCT);
    let specs = specs(&measures);
    let t = generate(Test::new())
        .file("reports/wide.toml", &report_toml(&specs))
        .args(&["run"]);
    let out = t.ok();
    assert!(out.stdout.contains("40 KPIs, 4 queries"), "{}", out.stdout);
    compare(&t, &specs).await;
}

/// Compares every trend value, previous and year-ago value of the report
/// `wide` with the reference.
async fn compare(t: &Test, specs: &[KpiSpec]) {
    let results = t.results("wide");

    let ctx = SessionContext::new();
    ctx.register_parquet(
        "orders",
        t.path().join("data/orders").to_str().unwrap(),
        ParquetReadOptions::default(),
    )
    .await
    .unwrap();
    let as_of = NaiveDate::from_ymd_opt(2026, 11, 17).unwrap();
    let mut compared = 0;
    let mut empty = 0;
    for spec in specs {
        let current = Period::containing(spec.grain, as_of);
        let kpi = &results["kpis"][&spec.id];
        let trend = kpi["trend"].as_array().unwrap();
        assert_eq!(trend.len(), 6);
        let mut expected: Vec<(Period, &serde_json::Value)> = current
            .trailing(6)
            .into_iter()
            .zip(trend.iter().map(|p| &p["value"]))
            .collect();
        expected.push((current.previous(), &kpi["previous"]));
        expected.push((current.year_ago(), &kpi["year_ago"]));
        for (period, got) in expected {
            let want = reference(&ctx, spec, period, as_of).await;
            match (want, got.as_f64()) {
                (Some(w), Some(g)) => assert!(
                    close(w, g),
                    "{} {} {}: want {w}, got {g}",
                    spec.id,
                    spec.measure,
                    period.label()
                ),
                (None, None) => empty += 1,
                (w, _) => panic!("{} {} {}: want {w:?}, got {got}", spec.id, spec.measure, period.label()),
            }
            compared += 1;
        }
    }
    assert_eq!(compared, specs.len() * 8);
    assert!(
        empty > 20,
        "the data has empty periods for non-additive measures ({empty})"
    );
}

#[test]
fn queries_per_report_are_one_per_table_time_column_and_grain() {
    let mut report = String::from("[report]\nhistory = 12\n\n[sources.orders]\npath = \"data/orders\"\n");
    for i in 0..12 {
        report.push_str(&format!(
            "[kpis.k{i}]\nsource = \"orders\"\nmeasure = \"SUM(amount) / COUNT(*)\"\ntime = \"order_date\"\nfilter = \"amount > {i}\"\n"
        ));
    }
    let t = generate(Test::new())
        .file("reports/one.toml", &report)
        .args(&["run", "--as-of", "2026-11-17"]);
    assert!(t.ok().stdout.contains("12 KPIs, 1 queries"));
    // Without --as-of, one more query per table finds the latest date.
    let t = t.args(&["run"]);
    assert!(t.ok().stdout.contains("12 KPIs, 2 queries"));
    // Another grain, a stock and a target table add one query each.
    let more = format!(
        "{report}\n[sources.targets]\npath = \"data/targets.csv\"\n\
         [kpis.weekly]\nsource = \"orders\"\nmeasure = \"COUNT(*)\"\ntime = \"order_date\"\ngrain = \"week\"\n\
         [kpis.stock]\nsource = \"orders\"\nmeasure = \"COUNT(*)\"\nfilter = \"order_date < $period_end\"\n\
         [kpis.k0.target]\nsource = \"targets\"\nmeasure = \"SUM(target)\"\ntime = \"month\"\n"
    );
    let t = generate(Test::new())
        .file("data/targets.csv", "month,target\n2026-11-01,5\n")
        .file("reports/one.toml", &more)
        .args(&["run", "--as-of", "2026-11-17"]);
    let out = t.ok();
    assert!(out.stdout.contains("14 KPIs, 4 queries"), "{}", out.stdout);
}

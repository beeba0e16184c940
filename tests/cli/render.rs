//! HTML and Markdown output: snapshots of a small fixture, user template
//! overrides, and template errors with their file and line.

use insta::assert_snapshot;

use crate::support::Test;

const ORDERS: &str = "\
order_date,rep,amount
2026-10-05,amy,100
2026-10-06,ben,50
2026-11-02,amy,200
2026-11-03,陳小明,100
";

const REPORT: &str = r#"
[report]
title = "業務戰情"
history = 3
as_of = 2026-11-30

[sources.orders]
path = "data/orders.csv"

[kpis.revenue]
label = "營業額"
source = "orders"
measure = "SUM(amount)"
time = "order_date"
format = "currency"
unit = "NT$"
target = 400
warn_at = 0.7

[kpis.orders]
label = "訂單數"
source = "orders"
measure = "COUNT(*)"
time = "order_date"
format = "integer"

[breakdowns.by_rep]
title = "業務員"
kpis = ["revenue", "orders"]
by = ["rep"]
sort = "-revenue"

[funnels.orders]
title = "訂單漏斗"
source = "orders"
time = "order_date"
stages = [
  { id = "all", label = "全部", filter = "TRUE" },
  { id = "big", label = "大單", filter = "amount >= 150" },
]

[tables.latest]
title = "最新訂單"
sql = "SELECT rep, amount FROM orders WHERE order_date >= $period_start ORDER BY amount DESC"

[alerts.short]
kpi = "revenue"
when = "status != 'good'"
severity = "critical"
message = "營業額 {{ value | currency('NT$') }}，目標 {{ target | currency('NT$') }}"

[alerts.quiet_rep]
breakdown = "by_rep"
when = "revenue.value < overall.revenue.value * 0.5"
message = "{{ rep }} 只有 {{ revenue.value | currency('NT$') }}"
"#;

fn project() -> Test {
    Test::new()
        .file("data/orders.csv", ORDERS)
        .file("reports/r.toml", REPORT)
}

fn read(t: &Test, file: &str) -> String {
    std::fs::read_to_string(t.path().join("out/r").join(file)).unwrap()
}

#[test]
fn markdown_snapshot() {
    let t = project().args(&["run"]);
    t.ok();
    assert_snapshot!(read(&t, "report.md"));
}

#[test]
fn html_snapshot() {
    let t = project().args(&["run"]);
    t.ok();
    let html = read(&t, "report.html");
    // Self-contained: no scripts, no external fetches.
    assert!(!html.contains("<script"));
    assert!(
        !html.contains("http://")
            || html.matches("http://").count() == html.matches("http://www.w3.org/2000/svg").count()
    );
    assert!(!html.contains("https://"));
    assert_snapshot!(html);
}

#[test]
fn format_flag_and_formats_key() {
    let t = project().args(&["run", "--format", "md"]);
    t.ok();
    assert!(t.path().join("out/r/report.md").exists());
    assert!(!t.path().join("out/r/report.html").exists());
    let t = project()
        .file(
            "reports/r.toml",
            &REPORT.replace("history = 3", "history = 3\nformats = []"),
        )
        .args(&["run"]);
    t.ok();
    let mut files: Vec<String> = std::fs::read_dir(t.path().join("out/r"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(files, ["results.json"]);
}

#[test]
fn a_project_overrides_one_partial_and_keeps_the_rest() {
    let t = project()
        .file(
            "templates/partials/kpi_card.html.j2",
            "<div class=\"mine\">{{ kpi.label }}={{ kpi | kpi_value }}</div>\n",
        )
        .args(&["run"]);
    t.ok();
    let html = read(&t, "report.html");
    assert!(html.contains(r#"<div class="mine">營業額=NT$ 300</div>"#), "{html}");
    assert!(html.contains(r#"<section class="funnel" id="funnel-orders">"#));
}

#[test]
fn a_report_template_extends_the_built_in_one() {
    let t = project()
        .file("reports/r.toml", &REPORT.replace("history = 3", "history = 3\ntemplate = \"war_room\""))
        .file("templates/war_room.md.j2", "{% extends \"report.md.j2\" %}{% block header %}# WAR ROOM {{ period.label }}\n{% endblock %}{% block tables %}{% endblock %}")
        .args(&["run"]);
    t.ok();
    let md = read(&t, "report.md");
    assert!(md.starts_with("# WAR ROOM 2026-11\n"), "{md}");
    assert!(md.contains("## KPIs"));
    assert!(!md.contains("最新訂單"));
}

#[test]
fn a_template_error_names_the_file_and_line_and_writes_nothing() {
    let t = project()
        .file(
            "templates/partials/kpi_card.html.j2",
            "<div>\n{{ kpi.label }}\n{{ kpi.valeu }}\n</div>\n",
        )
        .args(&["run"]);
    let out = t.run();
    assert_eq!(out.code, 1);
    assert_snapshot!(out.stderr);
    assert!(t.out_entries().is_empty());
    let t = project()
        .file("templates/partials/funnel.html.j2", "{% for x in %}\n")
        .args(&["check"]);
    let out = t.run();
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("templates/partials/funnel.html.j2:1: report r: "),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_mail_body_uses_tables_inline_styles_and_cid_pngs() {
    use warroom::config::diagnostic::Diagnostics;
    let t = project().args(&["run"]);
    t.ok();
    let mut diags = Diagnostics::default();
    let project = warroom::config::load_project(t.path(), &mut diags);
    assert!(!diags.has_errors());
    let report = &project.reports["r"];
    let results: serde_json::Value = t.results("r");
    let body = warroom::render::Renderer::new(t.path())
        .render_email(report, &results)
        .unwrap();
    assert!(!body.html.contains("<style"), "no stylesheet in mail");
    assert!(!body.html.contains("<svg"), "no SVG in mail");
    assert!(!body.html.contains("class=\""), "inline styles only");
    // One chart per KPI with data, each referenced once and a real PNG.
    let ids: Vec<&str> = body.images.iter().map(|i| i.content_id.as_str()).collect();
    assert_eq!(ids, ["trend-revenue@warroom", "trend-orders@warroom"]);
    for image in &body.images {
        assert_eq!(
            body.html.matches(&format!("src=\"cid:{}\"", image.content_id)).count(),
            1
        );
        assert_eq!(&image.png[..4], b"\x89PNG");
    }
    assert!(body.html.contains("營業額 NT$ 300，目標 NT$ 400"));
    assert!(body.html.contains("陳小明"));
}

#[test]
fn init_scaffolds_a_project_that_runs() {
    let t = Test::new().args(&["init", "new"]);
    t.run();
    let dir = t.path().join("new");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_warroom"))
        .args(["run", "--project", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("out/sales/results.json")).unwrap()).unwrap();
    // November: 1700 + 600 against 2500.
    assert_eq!(results["kpis"]["revenue"]["value"], 2300.0);
    assert_eq!(results["kpis"]["revenue"]["target"], 2500.0);
    assert_eq!(results["kpis"]["average_order"]["value"], 1150.0);
    let html = std::fs::read_to_string(dir.join("out/sales/report.html")).unwrap();
    assert!(html.contains("edit templates/sales.html.j2"));
    // A second init into the same folder refuses.
    assert_eq!(t.run().code, 2);
}

/// Chromium, installed by `.ci/run`; outside CI the browser test is skipped
/// when it is missing.
fn chromium() -> Option<&'static str> {
    let found = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists());
    if found.is_none() && std::env::var_os("CI").is_some() {
        panic!("chromium is required in CI (.ci/run installs it)");
    }
    found
}

#[test]
fn the_page_renders_in_headless_chromium() {
    let Some(browser) = chromium() else {
        eprintln!("chromium not installed: skipping the browser test");
        return;
    };
    let t = project().args(&["run"]);
    t.ok();
    let profile = tempfile::tempdir().unwrap();
    let page = format!("file://{}", t.path().join("out/r/report.html").display());
    let out = std::process::Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=2000",
            &format!("--user-data-dir={}", profile.path().display()),
            "--dump-dom",
            &page,
        ])
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(dom.contains("<section id=\"alerts\">"), "{dom}");
    assert_eq!(dom.matches("class=\"card kpi\"").count(), 2, "{dom}");
    assert!(dom.contains("<li class=\"alert critical\" data-key=\"short\">"));
    assert_eq!(dom.matches("class=\"stage\"").count(), 2);
    assert!(
        dom.contains("<tr class=\"flag-warning\"><td class=\"key\">陳小明</td>"),
        "{dom}"
    );
    assert_eq!(dom.matches("<svg").count(), 2, "a sparkline per KPI");
}

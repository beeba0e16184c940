//! Mail against a real SMTP server on loopback (aiosmtpd, started by the
//! tests on a free port): the message's parts, AUTH, STARTTLS, the send
//! policies, and the outbox across a server outage.

use mail_parser::{MessageParser, MimeHeaders};

use crate::smtp::{Server, free_port};
use crate::support::Test;

const ORDERS: &str =
    "order_date,rep,amount\n2026-10-05,amy,100\n2026-10-06,ben,50\n2026-11-02,amy,200\n2026-11-03,陳小明,100\n";

fn report(send: &str) -> String {
    format!(
        r#"
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

[breakdowns.by_rep]
kpis = ["revenue"]
by = ["rep"]

[alerts.short]
kpi = "revenue"
when = "value < target"
severity = "critical"
message = "營業額 {{{{ value | currency('NT$') }}}}"

[email]
to = ["主管 <boss@example.com>"]
cc = ["team@example.com"]
subject = "[{{{{ alerts | length }}}} alerts] {{{{ report.title }}}} {{{{ period.label }}}}"
send = "{send}"
attach = ["md", "json", "csv"]
"#
    )
}

fn smtp(port: u16, extra: &str) -> String {
    format!(
        "[smtp]\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\nfrom = \"War Room <wr@example.com>\"\n{extra}"
    )
}

fn project(port: u16, send: &str) -> Test {
    Test::new()
        .file("data/orders.csv", ORDERS)
        .file("reports/r.toml", &report(send))
        .file("warroom.toml", &smtp(port, ""))
}

fn outbox(t: &Test) -> Vec<String> {
    match std::fs::read_dir(t.path().join(".warroom/outbox")) {
        Ok(entries) => entries
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    }
}

#[test]
fn the_message_has_both_parts_inline_charts_attachments_and_a_utf8_subject() {
    let port = free_port();
    let server = Server::start(port, &[]);
    let t = project(port, "on_update").args(&["run", "--send"]);
    t.ok();
    let messages = server.messages();
    assert_eq!(messages.len(), 1);
    let message = MessageParser::default().parse(&messages[0]).unwrap();
    assert_eq!(message.subject(), Some("[1 alerts] 業務戰情 2026-11"));
    assert_eq!(
        message.from().unwrap().first().unwrap().address(),
        Some("wr@example.com")
    );
    assert_eq!(message.to().unwrap().first().unwrap().name(), Some("主管"));
    assert!(message.date().is_some());
    let id = message.message_id().unwrap();
    assert!(id.starts_with("r.") && id.ends_with("@warroom"), "{id}");
    let text = message.body_text(0).unwrap();
    assert!(text.contains("| 營業額 | NT$ 300 |"), "{text}");
    let html = message.body_html(0).unwrap();
    assert!(
        html.contains("cid:trend-revenue@warroom") && !html.contains("<svg"),
        "{html}"
    );
    let inline: Vec<_> = message
        .parts
        .iter()
        .filter(|p| p.content_id() == Some("trend-revenue@warroom"))
        .collect();
    assert_eq!(inline.len(), 1);
    assert_eq!(&inline[0].contents()[..4], b"\x89PNG");
    let mut names: Vec<&str> = message.attachments().filter_map(|a| a.attachment_name()).collect();
    names.sort();
    assert_eq!(names, ["breakdown-by_rep.csv", "report.md", "results.json"]);
    let csv = message
        .attachments()
        .find(|a| a.attachment_name() == Some("breakdown-by_rep.csv"))
        .unwrap();
    assert!(
        String::from_utf8_lossy(csv.contents()).starts_with("rep,revenue.value,revenue.previous,revenue.delta_pct\r\n")
    );
    assert!(outbox(&t).is_empty());
}

#[test]
fn policies_over_unchanged_data_changed_data_and_dry_runs() {
    let port = free_port();
    let server = Server::start(port, &[]);
    let dry = tempfile::tempdir().unwrap();
    // on_update: once per change; a dry run in between changes nothing.
    let t = project(port, "on_update").args(&["run", "--send"]);
    t.ok();
    t.ok();
    assert_eq!(server.messages().len(), 1, "unchanged data sends nothing");
    let t = t
        .file("data/orders.csv", &format!("{ORDERS}2026-11-20,ben,10\n"))
        .args(&["run", "--dry-run-mail", dry.path().to_str().unwrap()]);
    t.ok();
    assert!(dry.path().join("r.eml").exists());
    assert_eq!(server.messages().len(), 1, "a dry run sends nothing");
    let t = t.args(&["run", "--send"]);
    t.ok();
    assert_eq!(server.messages().len(), 2, "the dry run did not use up the change");

    // always: every run.
    let t = project(port, "always").args(&["run", "--send"]);
    t.ok();
    t.ok();
    assert_eq!(server.messages().len(), 4);

    // on_alert: like on_update, but only while an alert fires.
    let quiet = report("on_alert").replace("when = \"value < target\"", "when = \"value < 0\"");
    let t = project(port, "on_alert")
        .file("reports/r.toml", &quiet)
        .args(&["run", "--send"]);
    t.ok();
    assert_eq!(server.messages().len(), 4, "no alert, no mail");
    let t = t.file("reports/r.toml", &report("on_alert"));
    t.ok();
    assert_eq!(server.messages().len(), 5, "the alert fires");

    // on_change: when the firing set changes — new, then resolved.
    let t = project(port, "on_change").args(&["run", "--send"]);
    t.ok();
    assert_eq!(server.messages().len(), 6, "new alert");
    let t = t.file("data/orders.csv", &format!("{ORDERS}2026-11-21,amy,5\n"));
    t.ok();
    assert_eq!(server.messages().len(), 6, "the alert is still ongoing: no mail");
    let t = t.file("data/orders.csv", &format!("{ORDERS}2026-11-21,amy,500\n"));
    t.ok();
    assert_eq!(server.messages().len(), 7, "resolved");
}

#[test]
fn a_server_that_is_down_keeps_the_message_until_it_is_up_then_sends_it_once() {
    let port = free_port();
    let t = project(port, "on_update").args(&["run", "--send"]);
    let out = t.run();
    assert_eq!(out.code, 1);
    assert!(
        out.stderr
            .contains(&format!("cannot send mail through 127.0.0.1:{port}")),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("stays in the outbox"));
    assert_eq!(outbox(&t), ["r.json"]);
    let queued: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(t.path().join(".warroom/outbox/r.json")).unwrap()).unwrap();
    assert_eq!(queued["attempts"], 1);
    // Results were still written.
    assert_eq!(t.results("r")["kpis"]["revenue"]["value"], 300.0);

    let server = Server::start(port, &[]);
    t.ok();
    assert_eq!(server.messages().len(), 1);
    assert!(outbox(&t).is_empty());
    t.ok();
    assert_eq!(server.messages().len(), 1, "delivered exactly once");
}

#[test]
fn auth_with_the_right_and_a_wrong_password() {
    let port = free_port();
    let server = Server::start(port, &["--auth", "bot:s3cret-pass"]);
    let config = smtp(port, "username = \"bot\"\npassword_env = \"TEST_SMTP_PASSWORD\"\n");
    let t = project(port, "on_update")
        .file("warroom.toml", &config)
        .args(&["run", "--send"]);
    let wrong = t.run_with_env(&[("TEST_SMTP_PASSWORD", "wrong-pass")]);
    assert_eq!(wrong.code, 1);
    assert!(wrong.stderr.contains(&format!("127.0.0.1:{port}")), "{}", wrong.stderr);
    assert!(!wrong.stderr.contains("wrong-pass") && !wrong.stdout.contains("wrong-pass"));
    assert_eq!(server.messages().len(), 0);
    assert_eq!(outbox(&t), ["r.json"]);
    let outbox_text = std::fs::read_to_string(t.path().join(".warroom/outbox/r.json")).unwrap();
    assert!(!outbox_text.contains("wrong-pass"));
    let right = t.run_with_env(&[("TEST_SMTP_PASSWORD", "s3cret-pass")]);
    assert_eq!(right.code, 0, "{}", right.stderr);
    assert_eq!(server.messages().len(), 1);
    // A missing variable is a clear error, before anything is sent.
    let missing = t.run_with_env(&[]);
    assert_eq!(missing.code, 1);
    assert!(
        missing
            .stderr
            .contains("the environment variable TEST_SMTP_PASSWORD is not set"),
        "{}",
        missing.stderr
    );
}

#[test]
fn starttls_with_a_certificate_made_for_the_test() {
    let port = free_port();
    let certs = tempfile::tempdir().unwrap();
    let key = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    let (cert, key_pem) = (certs.path().join("cert.pem"), certs.path().join("key.pem"));
    std::fs::write(&cert, key.cert.pem()).unwrap();
    std::fs::write(&key_pem, key.signing_key.serialize_pem()).unwrap();
    let server = Server::start(
        port,
        &["--cert", cert.to_str().unwrap(), "--key", key_pem.to_str().unwrap()],
    );
    let config = smtp(port, "").replace("tls = \"none\"", "tls = \"starttls\"");
    let t = project(port, "on_update")
        .file("warroom.toml", &config)
        .args(&["run", "--send"]);
    // Without trusting the test certificate the handshake fails.
    let untrusted = t.run_with_env(&[]);
    assert_eq!(untrusted.code, 1, "{}", untrusted.stderr);
    assert_eq!(server.messages().len(), 0);
    let trusted = t.run_with_env(&[("WARROOM_SMTP_CA_FILE", cert.to_str().unwrap())]);
    assert_eq!(trusted.code, 0, "{}", trusted.stderr);
    assert_eq!(server.messages().len(), 1);
}

#[test]
fn the_whole_connection_can_come_from_warroom_smtp_url() {
    let port = free_port();
    let server = Server::start(port, &["--auth", "ci:p@ss"]);
    let t = Test::new()
        .file("data/orders.csv", ORDERS)
        .file("reports/r.toml", &report("on_update"))
        .args(&["run", "--send"]);
    let out = t.run_with_env(&[(
        "WARROOM_SMTP_URL",
        &format!("smtp://ci:p%40ss@127.0.0.1:{port}?tls=none&from=ci%40example.com"),
    )]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let messages = server.messages();
    let message = MessageParser::default().parse(&messages[0]).unwrap();
    assert_eq!(
        message.from().unwrap().first().unwrap().address(),
        Some("ci@example.com")
    );
}

//! `warroom watch` as users run it: the real binary watching a temporary
//! project while files land in it for real (renamed into place, written in
//! slow chunks, copied in a burst, corrupt, touched), definitions are
//! edited, and mail goes to a real SMTP server on loopback.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::smtp::{Server, free_port};
use crate::support::{Test, dates, floats, write_parquet};

/// Debounce of the test projects; long enough for the chunked write below.
const DEBOUNCE_MS: u64 = 400;

/// A `warroom watch` process and everything it logged so far.
struct Watcher {
    child: Child,
    log: Arc<Mutex<String>>,
}

impl Watcher {
    /// Starts watching and waits for the first run.
    fn start(t: &Test, extra: &[&str]) -> Self {
        let w = Self::spawn(t, extra);
        w.wait_for("the first run", |log| runs(log) == 1);
        w
    }

    fn spawn(t: &Test, extra: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_warroom"))
            .args(["watch", "--project", t.path().to_str().unwrap()])
            .args(extra)
            .current_dir(t.path())
            .env("RUST_LOG", "warroom=info")
            .env_remove("WARROOM_SMTP_URL")
            .env_remove("WARROOM_SMTP_CA_FILE")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("warroom starts");
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        Self { child, log }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits (up to 30 s) until `done` holds for the log so far.
    fn wait_for(&self, what: &str, done: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !done(&self.log()) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the watcher has run `n` times in all.
    fn wait_runs(&self, n: usize) {
        self.wait_for(&format!("run {n}"), |log| runs(log) >= n);
    }

    /// Sends SIGTERM and returns the exit code.
    fn stop(mut self) -> i32 {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        self.child.wait().unwrap().code().unwrap_or(-1)
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs finished, failed ones included.
fn runs(log: &str) -> usize {
    log.lines().filter(|l| l.contains(" ran ")).count()
}

/// Lets several debounce windows pass, so that anything the watcher would
/// still do has happened.
fn settle() {
    std::thread::sleep(Duration::from_millis(DEBOUNCE_MS * 5));
}

const SALES: &str = r#"
[report]
title = "Sales"
history = 3
as_of = 2026-11-30

[kpis.revenue]
label = "Revenue"
source = "orders"
measure = "SUM(amount)"
time = "order_date"
target = 1000

[email]
to = ["boss@example.com"]
send = "on_update"
attach = ["json"]
"#;

const SERVICE: &str = r#"
[report]
title = "Service"
history = 3
as_of = 2026-11-30

[kpis.complaints]
label = "Complaints"
source = "complaints"
measure = "COUNT(*)"
time = "received"
"#;

/// Orders in monthly Parquet files, complaints in a CSV; `sales` reads the
/// orders, `service` the complaints.
fn project(port: Option<u16>) -> Test {
    let smtp = port.map_or(String::new(), |port| {
        format!("[smtp]\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\nfrom = \"wr@example.com\"\n")
    });
    let t = Test::new()
        .file(
            "warroom.toml",
            &format!(
                "[sources.orders]\npath = \"data/orders\"\n\n[sources.complaints]\npath = \"data/complaints.csv\"\n\n\
                 [watch]\ndebounce_ms = {DEBOUNCE_MS}\nmax_wait_ms = 4000\n\n{smtp}"
            ),
        )
        .file("reports/sales.toml", SALES)
        .file("reports/service.toml", SERVICE)
        .file("data/complaints.csv", "received,topic\n2026-11-03,late\n");
    orders(&t.path().join("data/orders/2026-10.parquet"), "2026-10-15", 100.0);
    t
}

/// Writes a one-order Parquet file.
fn orders(path: &Path, date: &str, amount: f64) {
    write_parquet(
        &path.to_path_buf(),
        vec![("order_date", dates(&[date])), ("amount", floats(&[amount]))],
    );
}

/// A one-order Parquet file's bytes.
fn orders_bytes(date: &str, amount: f64) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.parquet");
    orders(&path, date, amount);
    std::fs::read(path).unwrap()
}

/// Writes `bytes` next to `path` under a temporary name, then renames it
/// into place, as pipelines that publish atomically do.
fn land(path: &Path, bytes: &[u8]) {
    let tmp = path.with_file_name(format!(".{}.tmp", path.file_name().unwrap().to_string_lossy()));
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn revenue(t: &Test) -> (f64, Vec<Option<f64>>) {
    let results = t.results("sales");
    (
        results["kpis"]["revenue"]["value"].as_f64().unwrap(),
        crate::support::trend(&results, "revenue"),
    )
}

#[test]
fn a_rename_a_slow_write_and_a_burst_each_make_one_run_and_one_mail() {
    let port = free_port();
    let server = Server::start(port, &[]);
    let t = project(Some(port));
    let w = Watcher::start(&t, &["--send"]);
    // The first run mails (nothing was mailed before).
    w.wait_for("the first mail", |_| server.messages().len() == 1);
    assert_eq!(revenue(&t).0, 0.0, "no November orders yet");

    // Renamed into place: one run, of the report that reads orders only.
    land(
        &t.path().join("data/orders/2026-11.parquet"),
        &orders_bytes("2026-11-20", 300.0),
    );
    w.wait_runs(2);
    w.wait_for("the second mail", |_| server.messages().len() == 2);
    assert_eq!(revenue(&t), (300.0, vec![Some(0.0), Some(100.0), Some(300.0)]));
    let log = w.log();
    let second = log.lines().filter(|l| l.contains(" ran ")).nth(1).unwrap();
    assert!(second.contains("ran sales in"), "{second}");

    // Written in slow chunks, each well inside the debounce window: no run
    // may read it half-written.
    let bytes = orders_bytes("2026-09-10", 50.0);
    let path = t.path().join("data/orders/2026-09.parquet");
    let mut file = std::fs::File::create(&path).unwrap();
    for chunk in bytes.chunks(bytes.len() / 5 + 1) {
        std::io::Write::write_all(&mut file, chunk).unwrap();
        file.sync_all().unwrap();
        std::thread::sleep(Duration::from_millis(DEBOUNCE_MS / 3));
    }
    drop(file);
    w.wait_runs(3);
    w.wait_for("the third mail", |_| server.messages().len() == 3);
    assert_eq!(revenue(&t), (300.0, vec![Some(50.0), Some(100.0), Some(300.0)]));

    // A burst of twelve files copied at once: one run, one mail.
    for month in 1..=12 {
        let bytes = orders_bytes(&format!("2025-{month:02}-01"), 1.0);
        std::fs::write(t.path().join(format!("data/orders/2025-{month:02}.parquet")), bytes).unwrap();
    }
    w.wait_runs(4);
    settle();
    assert_eq!((runs(&w.log()), server.messages().len()), (4, 4), "{}", w.log());
    assert!(!w.log().contains("ERROR"), "{}", w.log());
    assert_eq!(w.stop(), 0);
}

#[test]
fn a_touch_reruns_without_mail_and_a_restart_sends_nothing_again() {
    let port = free_port();
    let server = Server::start(port, &[]);
    let t = project(Some(port));
    let w = Watcher::start(&t, &["--send"]);
    w.wait_for("the first mail", |_| server.messages().len() == 1);
    let before = std::fs::read(t.path().join("out/sales/results.json")).unwrap();
    // New modification time, same bytes: it counts as landed, the run finds
    // the same results, so no mail.
    let file = std::fs::File::options()
        .write(true)
        .open(t.path().join("data/orders/2026-10.parquet"))
        .unwrap();
    file.set_modified(std::time::SystemTime::now() + Duration::from_secs(5))
        .unwrap();
    drop(file);
    w.wait_runs(2);
    settle();
    assert_eq!(server.messages().len(), 1);
    assert_eq!(std::fs::read(t.path().join("out/sales/results.json")).unwrap(), before);
    // Complaints are only read by `service`, which has no mail.
    land(
        &t.path().join("data/complaints.csv"),
        b"received,topic\n2026-11-03,late\n2026-11-04,rude\n",
    );
    w.wait_runs(3);
    assert!(
        w.log()
            .lines()
            .filter(|l| l.contains(" ran "))
            .nth(2)
            .unwrap()
            .contains("ran service in")
    );
    assert_eq!(t.results("service")["kpis"]["complaints"]["value"], 2.0);
    assert_eq!(w.stop(), 0);

    // A restart runs everything once and sends nothing already sent.
    let w = Watcher::start(&t, &["--send"]);
    settle();
    assert_eq!(server.messages().len(), 1, "{}", w.log());
    assert_eq!(w.stop(), 0);
}

#[test]
fn a_corrupt_file_is_logged_and_the_next_good_one_runs() {
    let t = project(None);
    let w = Watcher::start(&t, &[]);
    let path = t.path().join("data/orders/2026-11.parquet");
    land(&path, b"PAR1 this is not parquet");
    w.wait_runs(2);
    let log = w.log();
    assert!(log.contains("ERROR"), "{log}");
    assert!(log.contains("data/orders/2026-11.parquet"), "{log}");
    assert!(log.contains("failed: sales"), "{log}");
    // The failed run left the last good outputs alone.
    assert_eq!(revenue(&t).0, 0.0);
    land(&path, &orders_bytes("2026-11-02", 70.0));
    w.wait_runs(3);
    assert_eq!(revenue(&t).0, 70.0);
    // A deletion counts too.
    std::fs::remove_file(&path).unwrap();
    w.wait_runs(4);
    assert_eq!(revenue(&t).0, 0.0);
    assert_eq!(w.stop(), 0);
}

#[test]
fn an_edited_definition_reloads_and_a_broken_one_keeps_the_last_good() {
    let t = project(None);
    let w = Watcher::start(&t, &[]);
    orders(&t.path().join("data/orders/2026-11.parquet"), "2026-11-02", 500.0);
    w.wait_runs(2);
    assert_eq!(t.results("sales")["kpis"]["revenue"]["attainment"], 0.5);
    // A typo: logged with its place, the old definitions stay, nothing runs.
    let report = t.path().join("reports/sales.toml");
    std::fs::write(&report, SALES.replace("target = 1000", "targt = 2000")).unwrap();
    w.wait_for("the reload error", |log| log.contains("definitions not reloaded"));
    let log = w.log();
    assert!(
        log.contains("reports/sales.toml:12:1: kpis.revenue: unknown key `targt`"),
        "{log}"
    );
    assert_eq!(runs(&log), 2);
    // Data still lands under the last good definitions.
    land(
        &t.path().join("data/orders/2026-11.parquet"),
        &orders_bytes("2026-11-02", 600.0),
    );
    w.wait_runs(3);
    assert_eq!(t.results("sales")["kpis"]["revenue"]["attainment"], 0.6);
    // Fixed: reloaded, and only the edited report runs.
    std::fs::write(&report, SALES.replace("target = 1000", "target = 2000")).unwrap();
    w.wait_runs(4);
    assert_eq!(t.results("sales")["kpis"]["revenue"]["attainment"], 0.3);
    assert!(
        w.log()
            .lines()
            .filter(|l| l.contains(" ran "))
            .nth(3)
            .unwrap()
            .contains("ran sales in")
    );
    assert_eq!(w.stop(), 0);
}

#[test]
fn polling_notices_a_renamed_file() {
    let t = project(None);
    let w = Watcher::start(&t, &["--poll"]);
    land(
        &t.path().join("data/orders/2026-11.parquet"),
        &orders_bytes("2026-11-02", 42.0),
    );
    w.wait_runs(2);
    assert_eq!(revenue(&t).0, 42.0);
    assert_eq!(w.stop(), 0);
}

#[test]
fn a_second_watcher_on_the_same_project_is_refused() {
    let t = project(None);
    let w = Watcher::start(&t, &[]);
    let second = t.args(&["watch"]).run();
    assert_eq!(second.code, 1);
    assert!(
        second.stderr.contains("another `warroom watch` is already watching"),
        "{}",
        second.stderr
    );
    drop(w);
}

#[test]
fn a_mail_that_failed_is_retried_by_the_timer_once_the_server_is_up() {
    let port = free_port();
    let t = project(Some(port));
    // Nothing listens yet: the first run's mail stays in the outbox.
    let w = Watcher::start(&t, &["--send"]);
    w.wait_for("the failed attempt", |log| log.contains("mail not sent"));
    assert!(t.path().join(".warroom/outbox/sales.json").exists());
    let server = Server::start(port, &[]);
    // The first retry is due 30 s after the failure.
    let deadline = Instant::now() + Duration::from_secs(60);
    while server.messages().is_empty() {
        assert!(Instant::now() < deadline, "not retried; log:\n{}", w.log());
        std::thread::sleep(Duration::from_millis(200));
    }
    w.wait_for("the log of the retry", |log| log.contains("sent to boss@example.com"));
    assert!(!t.path().join(".warroom/outbox/sales.json").exists());
    assert_eq!(runs(&w.log()), 1, "the retry needs no run");
    assert_eq!(w.stop(), 0);
}

#[test]
fn sigterm_lets_the_run_in_flight_finish_then_exits_0() {
    // A table query that keeps the first run busy for a few seconds.
    let t = project(None).file(
        "reports/slow.toml",
        "[report]\nas_of = 2026-11-30\n\n[tables.slow]\nsql = \"SELECT SUM(value) AS s FROM range(0, 1000000000)\"\n",
    );
    let w = Watcher::spawn(&t, &["slow"]);
    w.wait_for("the watcher to start", |log| log.contains("watching"));
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(runs(&w.log()), 0, "the run was meant to be in flight");
    let log = Arc::clone(&w.log);
    assert_eq!(w.stop(), 0);
    let log = log.lock().unwrap().clone();
    assert_eq!(runs(&log), 1, "{log}");
    assert!(log.contains("stopped"), "{log}");
    assert_eq!(
        t.results("slow")["tables"]["slow"]["rows"][0][0].as_f64(),
        Some(499_999_999_500_000_000.0)
    );
}

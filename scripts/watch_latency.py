#!/usr/bin/env python3
"""Latency of `warroom watch --send`: from a month of orders renamed into
data/orders/ to the war room's mail accepted by an SMTP server on loopback.

Builds the release binary, generates the sample data (1M order lines by
default) into a temporary copy of the project, holds back the last month,
starts tests/smtp_server.py and `warroom watch --send`, then lands that
month N times (removing it in between, which is a change and a mail too) and
prints the median and min–max latency. A benchmark, not a test: run it by
hand (`python3 scripts/watch_latency.py [--orders N] [--rounds N]`).
"""
import argparse
import os
import pathlib
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

REPO = pathlib.Path(__file__).resolve().parent.parent


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mails(folder):
    return sorted(p for p in folder.iterdir() if p.suffix == ".eml")


def rss_mb(pid):
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def wait(what, done, timeout=120):
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            sys.exit(f"timed out waiting for {what}")
        time.sleep(0.005)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=REPO, check=True)
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    warroom = target / "release" / "warroom"
    sample = target / "release" / "warroom-sample"

    work = pathlib.Path(tempfile.mkdtemp(prefix="warroom-latency-"))
    project = work / "project"
    project.mkdir()
    shutil.copy(REPO / "warroom.toml", project)
    shutil.copytree(REPO / "reports", project / "reports")
    subprocess.run([sample, "--out", project / "data", "--orders", str(args.orders)], check=True,
                   stdout=subprocess.DEVNULL)
    month = project / "data" / "orders" / "2026-11.parquet"
    held = work / "2026-11.parquet"
    shutil.move(month, held)
    size = sum(p.stat().st_size for p in (project / "data" / "orders").iterdir()) + held.stat().st_size

    inbox = work / "inbox"
    inbox.mkdir()
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, REPO / "tests" / "smtp_server.py", "--port", str(port), "--dir", inbox],
        stdout=subprocess.PIPE, text=True)
    assert server.stdout.readline().strip() == "ready", "start the SMTP server: pip install aiosmtpd"

    env = dict(os.environ, RUST_LOG="warroom=info",
               WARROOM_SMTP_URL=f"smtp://127.0.0.1:{port}?tls=none&from=warroom@example.com")
    watcher = subprocess.Popen([warroom, "watch", "war_room", "--send", "--project", project],
                               env=env, stderr=subprocess.PIPE, text=True)
    log = []
    threading.Thread(target=lambda: log.extend(watcher.stderr), daemon=True).start()
    try:
        wait("the first run", lambda: any(" ran " in line for line in log))
        wait("the first mail", lambda: len(mails(inbox)) == 1)
        latencies = []
        rss_start = rss_mb(watcher.pid)
        for _ in range(args.rounds):
            before = len(mails(inbox))
            tmp = month.with_name(".2026-11.parquet.tmp")
            shutil.copy(held, tmp)
            started = time.monotonic()
            os.rename(tmp, month)
            wait("the mail", lambda: len(mails(inbox)) > before)
            latencies.append(time.monotonic() - started)
            # Take the month away again (a change, so one more mail).
            before = len(mails(inbox))
            os.remove(month)
            wait("the mail after the removal", lambda: len(mails(inbox)) > before)
        runs = [line.strip() for line in log if " ran " in line]
        rss_end = rss_mb(watcher.pid)
    finally:
        watcher.terminate()
        watcher.wait()
        server.terminate()
        shutil.rmtree(work)

    print(f"{args.orders} order lines ({size / 1e6:.1f} MB of Parquet), debounce 1500 ms, {args.rounds} rounds")
    print(f"rename → mail accepted: median {statistics.median(latencies):.2f} s, "
          f"min {min(latencies):.2f} s, max {max(latencies):.2f} s")
    print("last run:", runs[-1].split("INFO ")[-1])
    print(f"watcher RSS after the first run {rss_start:.0f} MB, after {len(runs)} runs {rss_end:.0f} MB")


if __name__ == "__main__":
    main()

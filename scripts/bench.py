#!/usr/bin/env python3
"""warroom against DuckDB and a single-scan floor, on the sample project.

For each data size (order lines) it generates the sample data with
`warroom-sample`, adds a wide report (42 KPIs over orders: 6 measures × 7
filters, 12 months), and times, per report and for all reports together:

  warroom   `warroom run REPORT` as a whole process;
  duckdb    the same KPI, target, breakdown, funnel and table queries as plain
            SQL an analyst would write without warroom (one GROUP BY query
            per KPI, one per target, per breakdown KPI, per funnel stage, per
            stock KPI and period), run by DuckDB in one Python process;
  floor     one DuckDB query per source the report reads that reads every
            column the report uses once, over the report's window.

Every contender is a whole process, timed the same way (wall clock around
the process, peak RSS from wait4), after one warm-up run, over --runs runs.
Then warroom runs all reports with and without `[engine] memory_limit`.
The queries DuckDB runs are generated from the same TOML, so the comparison
follows the project; `--show-sql REPORT` prints them.

    python3 scripts/bench.py                     # 1M and 10M order lines, 5 runs
    python3 scripts/bench.py --orders 1000000 --runs 3
"""
import argparse
import datetime as dt
import json
import os
import pathlib
import re
import shutil
import statistics
import subprocess
import sys
import time
import tomllib

REPO = pathlib.Path(__file__).resolve().parent.parent
AS_OF = dt.date(2026, 11, 30)
PLACEHOLDER = re.compile(r"\$(period_start|period_end|previous_start|as_of)\b")
IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


# ---------------------------------------------------------------- periods

def period_start(day, grain):
    if grain == "month":
        return day.replace(day=1)
    if grain == "quarter":
        return day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1)
    if grain == "year":
        return day.replace(month=1, day=1)
    if grain == "week":
        return day - dt.timedelta(days=day.weekday())
    return day


def shift(start, grain, n):
    if grain in ("month", "quarter", "year"):
        months = n * {"month": 1, "quarter": 3, "year": 12}[grain]
        index = start.year * 12 + start.month - 1 + months
        return dt.date(index // 12, index % 12 + 1, 1)
    return start + dt.timedelta(days=n * (7 if grain == "week" else 1))


def periods(grain, history):
    """The trend's periods, oldest first, as (start, end)."""
    current = period_start(AS_OF, grain)
    return [(shift(current, grain, -i), shift(current, grain, 1 - i)) for i in range(history - 1, -1, -1)]


def window(grain, history):
    """What warroom reads for a flow KPI: the trend and the year-ago period."""
    trend = periods(grain, history)
    year_ago = shift(trend[-1][0], grain, -{"month": 12, "quarter": 4, "year": 1, "week": 52, "day": 365}[grain])
    return min(trend[0][0], year_ago), trend[-1][1]


def bind(sql, start, end, previous):
    values = {"period_start": start, "period_end": end, "previous_start": previous, "as_of": AS_OF}
    return PLACEHOLDER.sub(lambda m: f"DATE '{values[m.group(1)]}'", sql)


# ----------------------------------------------------- queries from the TOML

def duckdb_source(path, spec, root):
    full = root / spec["path"]
    kind = spec.get("type") or ("parquet" if full.is_dir() or str(full).endswith(".parquet") else "csv")
    if full.is_dir():
        full = full / f"*.{kind}"
    if kind == "parquet":
        return f"SELECT * FROM read_parquet('{full}')"
    csv = spec.get("csv", {})
    types = {k: v.upper() for k, v in csv.get("schema", {}).items()}
    options = [f"header = {str(csv.get('header', True)).lower()}"]
    if types:
        options.append("types = {" + ", ".join(f"'{k}': '{v}'" for k, v in types.items()) + "}")
    if "delimiter" in csv:
        options.append(f"delim = '{csv['delimiter']}'")
    if "null_value" in csv:
        options.append(f"nullstr = '{csv['null_value']}'")
    return f"SELECT * FROM read_csv('{full}', {', '.join(options)})"


class Report:
    def __init__(self, root, project, report_id):
        self.root, self.id = root, report_id
        self.doc = tomllib.loads((root / "reports" / f"{report_id}.toml").read_text())
        meta = self.doc.get("report", {})
        self.grain = meta.get("grain", "month")
        self.history = meta.get("history", 12)
        self.sources = {**project.get("sources", {}), **self.doc.get("sources", {})}
        self.views = {**project.get("views", {}), **self.doc.get("views", {})}
        self.kpis = self.doc.get("kpis", {})

    def current(self, grain):
        return periods(grain, 1)[0]

    def setup(self):
        """DuckDB views for the sources and views (bound to the current period)."""
        start, end = self.current(self.grain)
        previous = shift(start, self.grain, -1)
        statements = [f"CREATE OR REPLACE VIEW {sid} AS {duckdb_source(sid, spec, self.root)}"
                      for sid, spec in self.sources.items()]
        statements += [f"CREATE OR REPLACE VIEW {vid} AS {bind(v['sql'], start, end, previous)}"
                       for vid, v in self.views.items()]
        return statements

    def measure_query(self, spec, grain, start, end, by=()):
        time_col = spec["time"]
        where = f"{time_col} >= DATE '{start}' AND {time_col} < DATE '{end}'"
        if spec.get("filter"):
            where += f" AND ({spec['filter']})"
        keys = "".join(f"{b}, " for b in by)
        return (f"SELECT {keys}date_trunc('{grain}', {time_col}) AS period, {spec['measure']} AS value "
                f"FROM {spec['source']} WHERE {where} GROUP BY ALL")

    def kpi_queries(self, kid, by=(), since=None):
        kpi = self.kpis[kid]
        if "expr" in kpi:
            # An analyst computes a ratio from the queries of its inputs.
            names = set(IDENT.findall(kpi["expr"])) & set(self.kpis)
            return [q for name in sorted(names) for q in self.kpi_queries(name, by, since)]
        grain = kpi.get("grain", self.grain)
        start, end = window(grain, self.history)
        start = since or start
        if "time" not in kpi:
            # A stock: one query per period with the placeholders bound.
            keys = ", ".join(by)
            return [f"SELECT {keys + ', ' if by else ''}{kpi['measure']} AS value FROM {kpi['source']} "
                    f"WHERE {bind(kpi.get('filter', 'TRUE'), s, e, shift(s, grain, -1))}"
                    + (f" GROUP BY {keys}" if by else "")
                    for s, e in periods(grain, self.history)]
        queries = [self.measure_query(kpi, grain, start, end, by)]
        target = kpi.get("target")
        if isinstance(target, dict) and not by:
            queries.append(self.measure_query(target, grain, start, end))
        return queries

    def queries(self):
        """The per-KPI SQL an analyst would run for this report."""
        queries = []
        for kid in self.kpis:
            if "expr" not in self.kpis[kid]:
                queries += self.kpi_queries(kid)
        start, end = self.current(self.grain)
        previous = shift(start, self.grain, -1)
        for b in self.doc.get("breakdowns", {}).values():
            since = periods(self.grain, self.history)[0][0] if b.get("trend") else previous
            for kid in b["kpis"]:
                queries += self.kpi_queries(kid, tuple(b["by"]), since)
            for target in b.get("targets", {}).values():
                queries.append(self.measure_query(target, self.grain, since, end, tuple(b["by"])))
        for f in self.doc.get("funnels", {}).values():
            value = f", {f['value']}" if f.get("value") else ""
            for stage in f["stages"]:
                queries.append(f"SELECT {f.get('count', 'COUNT(*)')}{value} FROM {f['source']} "
                               f"WHERE {f['time']} >= DATE '{start}' AND {f['time']} < DATE '{end}' "
                               f"AND ({stage['filter']})")
        for t in self.doc.get("tables", {}).values():
            queries.append(bind(t["sql"], start, end, previous))
        return queries

    def floor(self, columns_of):
        """One query per source read: every column used, read once, over the window."""
        texts = []
        for value in walk(self.doc):
            texts.append(value)
        used = set(IDENT.findall(" ".join(texts)))
        reads = {}
        for kid, kpi in self.kpis.items():
            if "source" in kpi:
                for source in self.sources_of(kpi["source"]):
                    # A time column of a view is not the source's.
                    time_col = kpi.get("time") if source == kpi["source"] else None
                    reads.setdefault(source, set()).add(time_col)
        for section in ("funnels", "tables"):
            for item in self.doc.get(section, {}).values():
                names = [item["source"]] if "source" in item else sorted(set(IDENT.findall(item["sql"])))
                for name in names:
                    for source in self.sources_of(name):
                        reads.setdefault(source, set()).add(item.get("time") if source == name else None)
        start = window(self.grain, self.history)[0]
        queries = []
        for source, times in sorted(reads.items()):
            columns = [c for c in columns_of(source) if c in used]
            where = ""
            if len(times) == 1 and None not in times:
                where = f" WHERE {next(iter(times))} >= DATE '{start}'"
            reads_columns = "".join(f", SUM(hash({c}))" for c in columns)
            queries.append(f"SELECT COUNT(*){reads_columns} FROM {source}{where}")
        return queries

    def sources_of(self, name, seen=None):
        if name in self.sources:
            return {name}
        if name not in self.views:
            return set()
        seen = (seen or set()) | {name}
        words = set(IDENT.findall(self.views[name]["sql"])) - seen
        return set().union(*[self.sources_of(w, seen) for w in words]) if words else set()


def walk(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from walk(v)
    elif isinstance(value, list):
        for v in value:
            yield from walk(v)


WIDE_MEASURES = ["SUM(amount)", "SUM(units)", "COUNT(*)", "AVG(amount)", "MAX(amount)", "MIN(units)"]
WIDE_FILTERS = [None, "product = 'beans'", "product = 'brewer'", "product = 'grinder'",
                "product = 'espresso_machine'", "units >= 10", "amount >= 20000"]


def wide_report():
    lines = ['[report]', 'title = "Wide: 42 KPIs over orders"', 'history = 12', '']
    for i, measure in enumerate(WIDE_MEASURES):
        for j, where in enumerate(WIDE_FILTERS):
            lines += [f"[kpis.k{i}_{j}]", 'source = "orders"', f'measure = "{measure}"', 'time = "order_date"']
            if where:
                lines.append(f'filter = "{where}"')
            lines.append("")
    return "\n".join(lines)


# ------------------------------------------------------------------ timing

def timed(command, env=None):
    """Wall seconds and peak RSS (MB) of one whole process."""
    started = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.monotonic() - started
    stderr = process.stderr.read().decode()
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        sys.exit(f"{' '.join(map(str, command))} failed ({process.returncode}):\n{stderr}")
    return elapsed, usage.ru_maxrss / 1024


def measure(command, runs, env=None):
    timed(command, env)  # warm-up: file cache, page cache
    samples = [timed(command, env) for _ in range(runs)]
    walls = [s[0] for s in samples]
    return {"median": statistics.median(walls), "min": min(walls), "max": max(walls),
            "rss": max(s[1] for s in samples)}


def run_duckdb(queries_file):
    """Child mode: run the statements of a JSON file in DuckDB and fetch every row."""
    import duckdb
    spec = json.loads(pathlib.Path(queries_file).read_text())
    con = duckdb.connect()
    if spec.get("memory_limit"):
        con.execute(f"SET memory_limit = '{spec['memory_limit']}'")
    for statement in spec["setup"]:
        con.execute(statement)
    for query in spec["queries"]:
        con.execute(query).fetchall()


# -------------------------------------------------------------------- main

def prepare(size, work):
    project = work / f"orders-{size}"
    marker = project / ".generated"
    if not marker.exists():
        if project.exists():
            shutil.rmtree(project)
        project.mkdir(parents=True)
        print(f"generating {size} order lines…", file=sys.stderr)
        subprocess.run([sample_bin(), "--out", project / "data", "--orders", str(size)], check=True,
                       stdout=subprocess.DEVNULL)
        marker.touch()
    shutil.copy(REPO / "warroom.toml", project)
    shutil.rmtree(project / "reports", ignore_errors=True)
    shutil.copytree(REPO / "reports", project / "reports")
    (project / "reports" / "wide.toml").write_text(wide_report())
    return project


def target_dir():
    return pathlib.Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target")) / "release"


def sample_bin():
    return target_dir() / "warroom-sample"


def fmt(result):
    return f"{result['median']:.3f} ({result['min']:.3f}–{result['max']:.3f})"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", default="1000000,10000000")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--memory-limit", default="1GB")
    parser.add_argument("--work", default=str(REPO / "target" / "bench"))
    parser.add_argument("--show-sql")
    parser.add_argument("--duckdb-run", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.duckdb_run:
        return run_duckdb(args.duckdb_run)

    subprocess.run(["cargo", "build", "--release", "--quiet", "--bins"], cwd=REPO, check=True)
    warroom = target_dir() / "warroom"
    work = pathlib.Path(args.work)
    reports = sorted(p.stem for p in (REPO / "reports").glob("*.toml")) + ["wide"]

    for size in [int(s) for s in args.orders.split(",")]:
        project_dir = prepare(size, work)
        project = tomllib.loads((project_dir / "warroom.toml").read_text())
        import duckdb
        con = duckdb.connect()
        columns = {}

        def columns_of(source, report):
            if source not in columns:
                spec = report.sources[source]
                con.execute(f"CREATE OR REPLACE VIEW probe AS {duckdb_source(source, spec, project_dir)}")
                columns[source] = [row[0] for row in con.execute("DESCRIBE probe").fetchall()]
            return columns[source]

        rows = []
        specs = {}
        for rid in reports:
            report = Report(project_dir, project, rid)
            specs[rid] = (report.setup(), report.queries(), report.floor(lambda s, r=report: columns_of(s, r)))
            if args.show_sql == rid:
                print("\n;\n".join(specs[rid][0] + specs[rid][1] + ["-- floor"] + specs[rid][2]))
                return
        files = work / f"queries-{size}"
        files.mkdir(exist_ok=True)

        def duck(name, setup, queries, memory_limit=None):
            path = files / f"{name}.json"
            path.write_text(json.dumps({"setup": setup, "queries": queries, "memory_limit": memory_limit}))
            return [sys.executable, __file__, "--duckdb-run", str(path)]

        out = work / "out"
        base = [warroom, "run", "--project", project_dir, "--as-of", str(AS_OF), "--out", out]
        for rid in reports + ["all"]:
            chosen = reports if rid == "all" else [rid]
            setup = list(dict.fromkeys(s for r in chosen for s in specs[r][0]))
            queries = [q for r in chosen for q in specs[r][1]]
            floor = [q for r in chosen for q in specs[r][2]]
            w = measure(base + ([] if rid == "all" else [rid]), args.runs)
            d = measure(duck(f"{rid}-duckdb", setup, queries), args.runs)
            f = measure(duck(f"{rid}-floor", setup, floor), args.runs)
            rows.append((rid, len(queries), w, d, f))
            print(f"{size} {rid}: warroom {fmt(w)}  duckdb {fmt(d)}  floor {fmt(f)}", file=sys.stderr)

        limited = work / f"orders-{size}-limited"
        limited.mkdir(exist_ok=True)
        text = (project_dir / "warroom.toml").read_text()
        (limited / "warroom.toml").write_text(f'[engine]\nmemory_limit = "{args.memory_limit}"\n\n{text}')
        for name in ("data", "reports"):
            link = limited / name
            if not link.exists():
                link.symlink_to(project_dir / name)
        unlimited = measure(base, args.runs)
        capped = measure([warroom, "run", "--project", limited, "--as-of", str(AS_OF), "--out", out], args.runs)

        startup = measure([sys.executable, "-c", "import duckdb; duckdb.connect()"], args.runs)
        data_mb = sum(p.stat().st_size for p in (project_dir / "data").rglob("*") if p.is_file()) / 1e6
        print(f"\n### {size:,} order lines ({data_mb:.0f} MB of data), {args.runs} runs, "
              f"seconds: median (min–max), peak RSS in MB\n")
        print("| report | DuckDB queries | warroom | RSS | DuckDB per-KPI | RSS | floor | RSS "
              "| warroom / DuckDB | warroom / floor | same, less DuckDB's start |")
        print("|---|---:|---|---:|---|---:|---|---:|---:|---:|---:|")
        start = startup["median"]
        for rid, count, w, d, f in rows:
            print(f"| {rid} | {count} | {fmt(w)} | {w['rss']:.0f} | {fmt(d)} | {d['rss']:.0f} | {fmt(f)} | "
                  f"{f['rss']:.0f} | {w['median'] / d['median']:.2f} | {w['median'] / f['median']:.2f} | "
                  f"{w['median'] / (d['median'] - start):.2f} / {w['median'] / (f['median'] - start):.2f} |")
        print(f"\nStarting Python and DuckDB alone takes {fmt(startup)} s ({startup['rss']:.0f} MB); it is part "
              "of every DuckDB figure, and taken out of both in the last column.")
        print(f"\nall reports, peak RSS: {unlimited['rss']:.0f} MB without a memory limit, "
              f"{capped['rss']:.0f} MB with memory_limit = \"{args.memory_limit}\" "
              f"({fmt(unlimited)} s vs {fmt(capped)} s)")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Turns bench JSON lines into markdown tables and SVG plots.

  bench/report.py RESULTS.jsonl [MORE.jsonl ...] [--out DIR]

Reads the JSON lines of every bench program (ferry-bench, ferry-taskbench, the peers, the
ucx_perftest floors; concatenated, in any order; "-" reads stdin) and writes into DIR
(default: the directory of the first file):
  report.md      tables ready for docs/performance.md: Ray's names and the targets, the
                 physical floors, the peers, scaling with ranks, the transfer sweep, Task
                 Bench, then every figure and every skipped one
  *.svg          scaling.svg, transfer.svg, taskbench_<pattern>.svg, drawn by gnuplot (when
                 it is installed; otherwise report.md says the plots were skipped); their
                 data and scripts are kept in DIR/plotdata/
  ratios.jsonl   ratio lines of ferry's figures to the peers' ({"name":
                 "single_client_tasks_sync", "value": ..., "unit": "ratio", "ratio_to":
                 "dask_tasks_sync", ...}); bench/run appends them to its results.jsonl
Lines with the same name, ranks (and bytes, system, task_us, ratio_to) from several runs: the
last one counts (a skipped line does not hide a value). A figure that is missing shows as
"—". Standard library only; Python 3.9 or later.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys

# Ray's published microbenchmark figures (Ray 2.31.0 release tests, ray_perf.py on one
# m5.16xlarge, 64 vCPU) and ferry's targets on a 2-core machine, as BENCHMARKS.md lists them.
# (name, Ray's figure, target text, target): target is ("min", x) for value >= x,
# ("max", x) for value <= x, ("ratio", baseline, x) for value / baseline >= x in the same
# run and the same ranks, ("present",) when holding the envelope at all is the target, or None.
RAY = [
    ("single_client_tasks_sync", "987 /s", "≥ 50,000 /s (round trip ≤ 20 µs)", ("min", 50000)),
    ("single_client_tasks_async", "7,955 /s", "≥ 250,000 /s", ("min", 250000)),
    ("multi_client_tasks_async", "23,558 /s", "≥ 400,000 /s", ("min", 400000)),
    ("1_1_actor_calls_sync", "2,058 /s", "≥ 50,000 /s", ("min", 50000)),
    ("1_1_actor_calls_async", "8,334 /s", "≥ 250,000 /s", ("min", 250000)),
    ("n_n_actor_calls_async", "27,658 /s", "≥ 400,000 /s", ("min", 400000)),
    ("single_client_put_calls", "5,301 /s", "≥ 500,000 /s", ("min", 500000)),
    ("single_client_get_calls", "10,594 /s", "≥ 1,000,000 /s", ("min", 1000000)),
    ("single_client_put_gigabytes", "20.3 GB/s", "≥ 0.70 of memcpy, same run",
     ("ratio", "memcpy_gigabytes", 0.70)),
    ("placement_group_create/removal", "841 /s", "≥ 20,000 /s", ("min", 20000)),
    ("rank_to_rank_gigabytes", "—", "≥ 0.85 of raw UCX get, same run",
     ("ratio", "ucx_get_gigabytes", 0.85)),
    # Ray's scalability envelope (single-node items).
    ("queued_1m_tasks_s", "1M+ queued tasks (envelope)", "holds 1M queued tasks", ("present",)),
    ("queued_task_bytes", "—", "≤ 1,024 B per queued task", ("max", 1024)),
    ("single_client_get_10k_objects", "10k+ objects in one get (envelope)", "holds 10k in one get",
     ("present",)),
    ("single_client_wait_1k_refs", "—", "—", None),
]

PEERS = [  # (ferry's figure, workload, Dask's figure, mpi4py.futures' figure)
    ("single_client_tasks_sync", "one task, result awaited, repeated",
     "dask_tasks_sync", "mpi4py_futures_tasks_sync"),
    ("single_client_tasks_async", "1,000 tasks submitted, then awaited, repeated",
     "dask_tasks_async", "mpi4py_futures_tasks_async"),
]

SCALING = ["single_client_tasks_sync", "single_client_tasks_async", "multi_client_tasks_async"]
PATTERNS = ["trivial", "stencil_1d", "fft", "tree"]
DASH = "—"
ANY = object()


# ---- reading ---------------------------------------------------------------------------------

def key_of(o):
    return (o.get("name"), o.get("ratio_to"), o.get("ranks"), o.get("bytes"), o.get("system"),
            o.get("task_us"), "skipped" in o)


def as_int(x):
    try:
        return int(float(x))
    except (TypeError, ValueError):
        return None


class Results:
    def __init__(self):
        self.lines = {}  # key -> line; re-inserted on every repeat, so that the last one counts
        self.info = {}

    def add(self, o):
        if not isinstance(o, dict) or not isinstance(o.get("name"), str):
            return
        if o["name"] == "run_info":
            self.info.update(o)
            return
        k = key_of(o)
        self.lines.pop(k, None)
        self.lines[k] = o

    def find(self, name, ranks=ANY, ratio_to=None, **extra):
        """The last value line (not skipped) matching; extra fields must match too."""
        found = None
        for o in self.lines.values():
            if o["name"] != name or "skipped" in o or "value" not in o:
                continue
            if o.get("ratio_to") != ratio_to:
                continue
            if ranks is not ANY and o.get("ranks") != ranks:
                continue
            if any(o.get(f) != v for f, v in extra.items()):
                continue
            found = o
        return found

    def value(self, name, ranks=ANY, ratio_to=None, **extra):
        o = self.find(name, ranks, ratio_to, **extra)
        try:
            return float(o["value"]) if o is not None else None
        except (TypeError, ValueError):
            return None

    def skipped(self, name):
        why = None
        for o in self.lines.values():
            if o["name"] == name and "skipped" in o:
                why = str(o["skipped"])
        return why

    def values(self):
        return [o for o in self.lines.values() if "skipped" not in o and "value" in o]

    def skips(self):
        return [o for o in self.lines.values() if "skipped" in o]

    def cores(self, ranks=ANY):
        """Online CPUs, as the lines at these ranks say (any line's, else run_info's)."""
        for o in reversed(list(self.lines.values())):
            if "cores" in o and (ranks is ANY or o.get("ranks") == ranks):
                return as_int(o["cores"])
        if ranks is not ANY:
            return self.cores()
        return as_int(self.info.get("cores"))


def read(paths):
    r = Results()
    for path in paths:
        f = sys.stdin if path == "-" else open(path, encoding="utf-8", errors="replace")
        with f:
            for line in f:
                line = line.strip()
                if not line.startswith("{"):
                    continue
                try:
                    r.add(json.loads(line))
                except ValueError:
                    print("report.py: not JSON, ignored: " + line[:120], file=sys.stderr)
    return r


# ---- formatting ------------------------------------------------------------------------------

def fmt(v, unit):
    if v is None:
        return DASH
    if unit == "per_s":
        return "{:,.0f} /s".format(v)
    if unit == "GB_per_s":
        return ("{:.2f} GB/s" if v >= 1 or v == 0 else "{:.3g} GB/s").format(v)
    if unit == "us":
        return ("{:.2f} µs" if v < 100 else "{:,.0f} µs").format(v)
    if unit == "s":
        return "{:.3f} s".format(v)
    if unit == "bytes":
        return "{:,.0f} B".format(v)
    if unit in ("ratio", "fraction"):
        return fmt_ratio(v)
    return "{:g} {}".format(v, unit or "")


def fmt_ratio(v):
    if v is None:
        return DASH
    if v == 0 or abs(v) >= 0.1:
        return "{:,.2f}".format(v)
    return "{:.2g}".format(v)


def fmt_line(o):
    return fmt(float(o["value"]), o.get("unit")) if o is not None else DASH


def fmt_size(b):
    b = int(b)
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if b >= size and b % size == 0:
            return "{} {}".format(b // size, unit)
    return "{:,} B".format(b)


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        out.append("| " + " | ".join(str(c) for c in row) + " |")
    return "\n".join(out)


def yes_no(ok):
    return DASH if ok is None else ("yes" if ok else "no")


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


# ---- plots -----------------------------------------------------------------------------------

class Plotter:
    def __init__(self, out):
        self.out = out
        self.data = os.path.join(out, "plotdata")
        self.gnuplot = shutil.which("gnuplot")
        self.notes = []

    def plot(self, name, settings, series):
        """series: [(title, [(x, y), ...], style)]; writes NAME.svg; returns markdown."""
        series = [s for s in series if s[1]]
        if not series:
            return "_No data for {}.svg._".format(name)
        if not self.gnuplot:
            return "_Plot {}.svg skipped: gnuplot is not installed (package gnuplot-nox)._".format(name)
        os.makedirs(self.data, exist_ok=True)
        plots = []
        for i, (title, points, style) in enumerate(series):
            dat = os.path.join("plotdata", "{}_{}.dat".format(name, i))
            with open(os.path.join(self.out, dat), "w") as f:
                for x, y in sorted(points):
                    f.write("{!r} {!r}\n".format(float(x), float(y)))
            plots.append("'{}' using 1:2 with {} title '{}'".format(dat, style,
                                                                     title.replace("'", "")))
        script = os.path.join("plotdata", name + ".gp")
        with open(os.path.join(self.out, script), "w") as f:
            f.write('set terminal svg size 800,500 dynamic font "sans,12" background rgb "white"\n')
            f.write("set termoption noenhanced\n")
            f.write("set output '{}.svg'\n".format(name))
            f.write("set grid\nset key below\n")
            f.write(settings.strip() + "\n")
            f.write("plot " + ", \\\n     ".join(plots) + "\n")
        try:
            p = subprocess.run([self.gnuplot, script], cwd=self.out, timeout=60,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        except (OSError, subprocess.TimeoutExpired) as e:
            return "_Plot {}.svg failed: {}._".format(name, e)
        if p.returncode != 0:
            sys.stderr.write(p.stderr)
            return "_Plot {}.svg failed: gnuplot exited with status {}._".format(name, p.returncode)
        return "![{0}]({0}.svg)".format(name)


# ---- sections --------------------------------------------------------------------------------

def main_ranks(r):
    return int(r.info.get("ranks", 3))


def section_ray(r):
    mr = main_ranks(r)
    rows = []
    for name, ray, target_text, target in RAY:
        cells, met = [], []
        for ranks in (1, mr):
            o = r.find(name, ranks)
            cell = fmt_line(o)
            ok = None
            v = float(o["value"]) if o is not None else None
            if target and v is not None:
                kind = target[0]
                if kind == "min":
                    ok = v >= target[1]
                elif kind == "max":
                    ok = v <= target[1]
                elif kind == "present":
                    ok = True
                elif kind == "ratio":
                    q = r.value(name, ranks, ratio_to=target[1])
                    if q is None:
                        q = ratio(v, r.value(target[1], ranks))
                    if q is not None:
                        cell += " ({} of {})".format(fmt_ratio(q), target[1])
                        ok = q >= target[2]
            if o is not None and o.get("unit") == "s" and "tasks" in o:
                cell += " ({:,} tasks)".format(int(o["tasks"]))
            cells.append(cell)
            met.append(ok)
        if all(m is None for m in met):
            met_text = DASH
        else:
            met_text = "{} / {}".format(yes_no(met[0]), yes_no(met[1]))
        rows.append([name] + cells + [ray, target_text, met_text])
    return ("## Ray's microbenchmark names\n\n"
            "Ray: Ray 2.31.0's published ray_perf.py figures (one m5.16xlarge, 64 vCPU); "
            "targets from BENCHMARKS.md (a 2-core machine). \"met?\" is embedded / {} ranks.\n\n"
            .format(mr)
            + table(["figure", "ferry embedded", "ferry {} ranks".format(mr), "Ray (64 vCPU)",
                     "target", "met?"], rows))


def section_floors(r):
    mr = main_ranks(r)
    rows = []

    def bw_row(ferry, ranks, floor_name, floor_ranks, need, label=None):
        f = r.value(ferry, ranks)
        b = r.value(floor_name, floor_ranks)
        q = r.value(ferry, ranks, ratio_to=floor_name) if floor_ranks == ranks else None
        if q is None:
            q = ratio(f, b)
        rows.append(["{} ({})".format(ferry, "embedded" if ranks == 1 else "%d ranks" % ranks),
                     fmt(f, "GB_per_s"), label or floor_name, fmt(b, "GB_per_s"), fmt_ratio(q),
                     "≥ {:.2f}".format(need), yes_no(None if q is None else q >= need)])

    bw_row("single_client_put_gigabytes", 1, "memcpy_gigabytes", 1, 0.70)
    bw_row("single_client_put_gigabytes", mr, "memcpy_gigabytes", mr, 0.70)
    bw_row("rank_to_rank_gigabytes", mr, "ucx_get_gigabytes", mr, 0.85,
           "ucx_get_gigabytes (raw UCX, in ferry-bench)")
    bw_row("rank_to_rank_gigabytes", mr, "ucx_perftest_get_gigabytes", ANY, 0.85,
           "ucx_perftest_get_gigabytes (64 MiB)")

    sync = r.value("single_client_tasks_sync", mr)
    rt = 1e6 / sync if sync else None
    label = "round trip 1e6 / single_client_tasks_sync ({} ranks)".format(mr)
    for floor_name, scale, text in (
            ("mpi_pingpong_us", 1, "mpi_pingpong_us (round trip, plain MPI)"),
            ("ucx_pingpong_us", 1, "ucx_pingpong_us (round trip, raw UCX)"),
            ("ucx_perftest_am_lat_us", 2, "2 × ucx_perftest_am_lat_us (one way)")):
        b = r.value(floor_name, mr)
        if b is None:
            b = r.value(floor_name)
        b = b * scale if b is not None else None
        rows.append([label, fmt(rt, "us"), text, fmt(b, "us"), fmt_ratio(ratio(rt, b)),
                     "round trip ≤ 20 µs", yes_no(None if rt is None else rt <= 20)])
    # Inside one process the floor is the operating system's: a thread wake-up.
    sync1 = r.value("single_client_tasks_sync", 1)
    rt1 = 1e6 / sync1 if sync1 else None
    b = r.value("thread_pingpong_us", 1)
    rows.append(["round trip 1e6 / single_client_tasks_sync (embedded)", fmt(rt1, "us"),
                 "thread_pingpong_us (two threads, condition variable: 2 wake-ups)",
                 fmt(b, "us"), fmt_ratio(ratio(rt1, b)), "round trip ≤ 20 µs",
                 yes_no(None if rt1 is None else rt1 <= 20)])
    return ("## Against the physical floors (same run)\n\n"
            "Ratio is ferry / floor: for bandwidths the fraction of the floor reached, for "
            "round trips how many times the floor's time ferry takes.\n\n"
            + table(["ferry figure", "ferry", "floor", "floor value", "ratio", "target", "met?"],
                    rows))


def section_peers(r, ratio_lines):
    mr = main_ranks(r)
    rows = []
    workers = set()

    def peer_cell(ferry_name, name, ferry_v):
        o = r.find(name)
        if o is None:
            why = r.skipped(name)
            return ("skipped: " + why if why else DASH), DASH
        workers.add(o.get("workers"))
        v = float(o["value"])
        q = ratio(ferry_v, v)
        if q is not None:
            ratio_lines.append({"name": ferry_name, "value": round(q, 4), "unit": "ratio",
                                "ratio_to": name, "ranks": mr, "workers": o.get("workers")})
        return fmt(v, "per_s"), (fmt_ratio(q) if q is not None else DASH)

    for ferry_name, workload, dask, mpi in PEERS:
        f = r.value(ferry_name, mr)
        d, dq = peer_cell(ferry_name, dask, f)
        m, mq = peer_cell(ferry_name, mpi, f)
        rows.append([ferry_name, workload, fmt(f, "per_s"), d, dq, m, mq])
    w = ", ".join(str(x) for x in sorted(x for x in workers if x is not None)) or "2"
    return ("## Peers: Dask distributed and mpi4py.futures (same run)\n\n"
            "ferry's figure is the {mr}-rank run: rank 0 drives and {w1} worker ranks run the "
            "tasks, like the peers' {w} worker processes (Dask LocalCluster, 1 thread each; "
            "MPIPoolExecutor under mpirun -n {wp}). Empty tasks; median of 3 trials.\n\n"
            .format(mr=mr, w1=mr - 1, w=w, wp=(int(w) + 1 if w.isdigit() else "N+1"))
            + table(["ferry figure", "workload", "ferry ({} ranks)".format(mr), "Dask",
                     "ferry ÷ Dask", "mpi4py.futures", "ferry ÷ mpi4py.futures"], rows))


def section_scaling(r, plotter):
    ranks = sorted({o.get("ranks") for o in r.values()
                    if o["name"] in SCALING and o.get("unit") == "per_s"
                    and isinstance(o.get("ranks"), int)})
    rows = []
    for n in ranks:
        c = r.cores(n)
        note = ""
        if n == 1:
            note = "embedded (one process)"
        elif isinstance(c, int) and n > c:
            note = "oversubscribed ({} ranks on {} cores)".format(n, c)
        rows.append([str(n), str(c) if c is not None else DASH]
                    + [fmt(r.value(name, n), "per_s") for name in SCALING] + [note])
    if not rows:
        rows.append([DASH] * (len(SCALING) + 3))
    series = [(name, [(n, r.value(name, n)) for n in ranks if r.value(name, n)],
               "linespoints lw 2 pt 7") for name in SCALING]
    img = plotter.plot("scaling", """
set title 'Task rates by number of ranks (1 = embedded)'
set xlabel 'ranks'
set ylabel 'tasks per second'
set logscale x 2
set logscale y
""", series)
    return ("## Scaling with ranks\n\nWith more ranks than cores the ranks share cores and do not "
            "poll, so rates fall: the point of this table is the trend, not the figure.\n\n"
            + table(["ranks", "cores"] + SCALING + ["note"], rows) + "\n\n" + img)


def section_transfer(r, plotter):
    a, b = "rank_to_rank_sweep_gigabytes", "ucx_get_sweep_gigabytes"
    sizes = sorted({int(o["bytes"]) for o in r.values()
                    if o["name"] in (a, b) and o.get("bytes") is not None
                    and o.get("unit") == "GB_per_s"})
    rows = []
    for s in sizes:
        fa, fb = r.value(a, bytes=s), r.value(b, bytes=s)
        q = r.value(a, ratio_to=b, bytes=s)
        if q is None:
            q = ratio(fa, fb)
        rows.append([fmt_size(s), fmt(fa, "GB_per_s"), fmt(fb, "GB_per_s"), fmt_ratio(q)])
    if not rows:
        rows.append([DASH] * 4)
    series = [("ferry rank to rank", [(s, r.value(a, bytes=s)) for s in sizes if r.value(a, bytes=s)],
               "linespoints lw 2 pt 7"),
              ("raw UCX get", [(s, r.value(b, bytes=s)) for s in sizes if r.value(b, bytes=s)],
               "linespoints lw 2 pt 5 dt 2")]
    img = plotter.plot("transfer", """
set title 'Transfer bandwidth by object size'
set xlabel 'bytes'
set ylabel 'GB/s'
set logscale x 2
set logscale y
set xtics ({})
set xrange [{}:{}]
""".format(", ".join("'{}' {}".format(fmt_size(s), s) for s in sizes[::2]),
           sizes[0] / 1.5 if sizes else 1, sizes[-1] * 1.5 if sizes else 2), series)
    return ("## Transfer sweep (rank to rank against raw UCX get)\n\n"
            + table(["size", a, b, "ratio"], rows) + "\n\n" + img)


def section_taskbench(r, plotter):
    seen = {o["name"][len("taskbench_"):-len("_metg_us")] for o in r.lines.values()
            if o["name"].startswith("taskbench_") and o["name"].endswith("_metg_us")}
    seen |= {o["name"][len("taskbench_"):-len("_efficiency")] for o in r.lines.values()
             if o["name"].startswith("taskbench_") and o["name"].endswith("_efficiency")}
    patterns = PATTERNS + sorted(seen - set(PATTERNS))
    rows, imgs = [], []
    for p in patterns:
        f_name, m_name = "taskbench_%s_metg_us" % p, "mpi_taskbench_%s_metg_us" % p
        fo, mo = r.find(f_name), r.find(m_name)
        q = r.value(f_name, ratio_to=m_name)
        if q is None:
            q = ratio(r.value(f_name), r.value(m_name))
        ranks = (fo or mo or {}).get("ranks")
        cell_f = fmt_line(fo) if fo is not None or not r.skipped(f_name) else "not reached"
        cell_m = fmt_line(mo) if mo is not None or not r.skipped(m_name) else "not reached"
        rows.append([p, cell_f, cell_m, fmt_ratio(q), str(ranks) if ranks else DASH])
        eff = "taskbench_%s_efficiency" % p
        series = []
        for system, title, style in (("ferry", "ferry", "linespoints lw 2 pt 7"),
                                     ("mpi", "MPI", "linespoints lw 2 pt 5 dt 2")):
            pts = [(float(o["task_us"]), float(o["value"])) for o in r.values()
                   if o["name"] == eff and o.get("system") == system and "task_us" in o]
            series.append((title, pts, style))
        if any(s[1] for s in series):
            imgs.append(plotter.plot("taskbench_" + p, """
set title 'Task Bench, {p}: efficiency by task granularity'
set xlabel 'task granularity (µs)'
set ylabel 'efficiency'
set logscale x 10
set yrange [0:1.05]
set arrow from graph 0, first 0.5 to graph 1, first 0.5 nohead dt 3 lw 1.5 lc rgb 'gray40'
set label '50%' at graph 0.01, first 0.53 tc rgb 'gray40'
""".format(p=p), series))
    if not imgs:
        imgs.append("_No Task Bench efficiency curves in these results._")
    return ("## Task Bench: minimum effective task granularity (METG, 50% efficiency)\n\n"
            "Lower is better; ratio is ferry / MPI, the same graph in the same run. \"not "
            "reached\": a skipped line (why: see Skipped below), usually no granularity of the "
            "sweep reached 50%.\n\n"
            + table(["pattern", "ferry METG", "MPI METG", "ratio", "ranks"], rows)
            + "\n\n" + "\n\n".join(imgs))


def section_all(r):
    rows = []
    for o in r.values():
        if o["name"].endswith("_efficiency") and "task_us" in o:
            continue
        extra = []
        if o.get("ratio_to"):
            extra.append("ratio to " + o["ratio_to"])
        if o.get("bytes") is not None and o.get("unit") != "bytes":
            extra.append(fmt_size(o["bytes"]))
        if o.get("system"):
            extra.append(str(o["system"]))
        if o.get("workers") is not None:
            extra.append("%s workers" % o["workers"])
        try:
            v = fmt(float(o["value"]), o.get("unit"))
        except (TypeError, ValueError):
            v = str(o["value"])
        rows.append([o["name"], str(o.get("ranks", DASH)), v, ", ".join(extra)])
    skips = [[o["name"], str(o.get("ranks", DASH)), str(o["skipped"])] for o in r.skips()]
    text = "## Every figure\n\n" + table(["name", "ranks", "value", "detail"], rows or [[DASH] * 4])
    if skips:
        text += "\n\n## Skipped\n\n" + table(["name", "ranks", "why"], skips)
    return text


def main():
    ap = argparse.ArgumentParser(description="Markdown tables and SVG plots from bench JSON lines")
    ap.add_argument("inputs", nargs="+", help="JSON-lines files ('-': stdin)")
    ap.add_argument("--out", help="output directory (default: the first input's directory)")
    a = ap.parse_args()
    out = a.out or (os.path.dirname(os.path.abspath(a.inputs[0])) if a.inputs[0] != "-" else ".")
    os.makedirs(out, exist_ok=True)
    r = read(a.inputs)
    plotter = Plotter(out)
    ratio_lines = []
    info = r.info
    head = "# ferry benchmark report\n\n"
    bits = []
    if info.get("date"):
        bits.append("run of " + str(info["date"]))
    if info.get("commit"):
        bits.append("commit " + str(info["commit"]))
    c = r.cores()
    if c is not None:
        bits.append("{} cores".format(c))
    if info.get("quick"):
        bits.append("--quick")
    if bits:
        head += ", ".join(bits) + ". "
    head += ("Every figure is the median of several timed trials after a warm-up; "
             "read ratios to the same run's baselines rather than absolute values.\n")
    sections = [head, section_ray(r), section_floors(r), section_peers(r, ratio_lines),
                section_scaling(r, plotter), section_transfer(r, plotter),
                section_taskbench(r, plotter), section_all(r)]
    with open(os.path.join(out, "report.md"), "w", encoding="utf-8") as f:
        f.write("\n\n".join(sections) + "\n")
    with open(os.path.join(out, "ratios.jsonl"), "w", encoding="utf-8") as f:
        for o in ratio_lines:
            f.write(json.dumps(o) + "\n")
    print("report.py: wrote {}".format(os.path.join(out, "report.md")), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

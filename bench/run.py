#!/usr/bin/env python3
"""TinyAlloc benchmark suite: one command, three groups, markdown tables,
CSV files and an SVG chart.  See docs/BENCHMARKS.md.

    python3 bench/run.py            # full mode (~20 min on 2 cores)
    QUICK=1 python3 bench/run.py    # quick mode (< 3 min once built)

Environment knobs:
    QUICK=1          fewer runs, smaller inputs
    PARTS=a,b        any of rust,callgrind,programs (default: all three)
    RUNS=N           runs per allocator and workload (default 7, quick 3)
    SCALE=F          Rust workload scale (default 3, quick 0.5)
    CARGO_TARGET_DIR where cargo builds (default ./target)
    NO_BUILD=1       reuse the binaries of the last build
    UPDATE_DOCS=1    also put the tables into docs/BENCHMARKS.md

Python 3 standard library only.
"""

import csv
import datetime
import json
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RESULTS = os.path.join(HERE, "results")
QUICK = os.environ.get("QUICK") == "1"
PARTS = os.environ.get("PARTS", "rust,callgrind,programs").split(",")
RUNS = int(os.environ.get("RUNS", "3" if QUICK else "7"))
SCALE = float(os.environ.get("SCALE", "0.5" if QUICK else "3"))
PROGRAM_SCALE = 0.5 if QUICK else 1.0
TARGET = os.path.abspath(
    os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")))
WORK = os.path.join(TARGET, "bench-work")
BASE = "mimalloc"

RUST_ALLOCATORS = ["tinyalloc", "system", "mimalloc", "jemalloc"]
WORKLOADS = ["churn", "prodcon", "larson", "trees", "realloc", "mixed",
             "aligned", "threads", "falseshare", "fragment"]
# The bench binaries' do-nothing workload: each binary's start-up peak RSS,
# shown under the RSS table and kept out of the ratios.
IDLE = "idle"
LIBDIR = "/usr/lib/x86_64-linux-gnu"
PRELOADS = {
    "tinyalloc": None,  # filled in by build_ffi()
    "system": "",  # glibc's malloc: no preload
    "mimalloc": f"{LIBDIR}/libmimalloc.so.2",
    "jemalloc": f"{LIBDIR}/libjemalloc.so.2",
    "tcmalloc": f"{LIBDIR}/libtcmalloc_minimal.so.4",
}
DEBIAN_PACKAGES = ["libmimalloc2.0", "libjemalloc2", "libtcmalloc-minimal4"]
# Tools the groups run, and the Debian packages that bring them.
TOOLS = {"valgrind": "valgrind", "callgrind_annotate": "valgrind",
         "sqlite3": "sqlite3", "git": "git", "gcc": "gcc", "nm": "binutils"}
# Sizes of the callgrind pair variants; the cross-thread one uses CROSS_SIZE.
PAIR_SIZES = [16, 64, 256, 1024, 8192]
CROSS_SIZE = 64
# Two run lengths: their difference cancels start-up and tear-down.
PAIR_COUNTS = (20_000, 120_000)
ANNOTATE_COUNT = 200_000


def log(message):
    print(message, file=sys.stderr, flush=True)


def run(command, **kwargs):
    """Runs a command, failing loudly."""
    return subprocess.run(command, check=True, **kwargs)


# ---------------------------------------------------------------- machine

def machine_info():
    cpu = "unknown"
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    glibc = platform.libc_ver()[1] or "?"
    rustc = subprocess.run(["rustc", "--version"], capture_output=True,
                           text=True).stdout.strip()
    return {
        "date": datetime.datetime.now(datetime.timezone.utc)
        .strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "kernel": platform.release(),
        "glibc": glibc,
        "rustc": rustc,
        "mode": "quick" if QUICK else "full",
        "runs": str(RUNS),
        "versions": peer_versions(),
        "commit": source_commit(),
    }


def source_commit():
    """The measured commit, marked "+changes" when the tree differs."""
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                          capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no", "--",
         "src", "tinyalloc-alloc", "tinyalloc-sys", "tinyalloc-array",
         "tinyalloc-list", "tinyalloc-bitmap", "benches"],
        cwd=ROOT, capture_output=True, text=True).stdout.strip()
    return head + ("+changes" if dirty else "") if head else "unknown"


def peer_versions():
    versions = []
    for package in DEBIAN_PACKAGES:
        out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package],
                             capture_output=True, text=True)
        if out.returncode == 0:
            versions.append(f"{package} {out.stdout}")
    lock = open(os.path.join(ROOT, "Cargo.lock")).read()
    for crate in ["libmimalloc-sys", "tikv-jemalloc-sys"]:
        found = re.search(rf'name = "{crate}"\nversion = "([^"]+)"', lock)
        if found:
            versions.append(f"{crate} {found.group(1).split('+')[0]}")
    return ", ".join(versions)


def ensure_packages():
    """Installs the peers' Debian packages and the tools the groups run,
    when missing (as root, with apt-get)."""
    missing = [p for p in PRELOADS.values() if p and not os.path.exists(p)]
    packages = list(DEBIAN_PACKAGES) if missing else []
    packages += [package for tool, package in TOOLS.items()
                 if not shutil.which(tool)]
    if not packages:
        return
    log(f"installing {' '.join(packages)}")
    subprocess.run(["apt-get", "update", "-qq"], check=False)
    subprocess.run(["apt-get", "install", "-y", "-qq"] + packages,
                   check=False)


# ------------------------------------------------------------------ build

def cargo_json(arguments):
    """Runs cargo with JSON messages; returns the artifact messages."""
    env = dict(os.environ, CARGO_TARGET_DIR=TARGET)
    out = subprocess.run(["cargo"] + arguments + ["--message-format=json"],
                         cwd=ROOT, env=env, stdout=subprocess.PIPE, check=True)
    messages = []
    for line in out.stdout.decode().splitlines():
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if message.get("reason") == "compiler-artifact":
            messages.append(message)
    return messages


def build_benches():
    log("building the bench binaries (cargo bench --no-run) ...")
    binaries = {}
    for message in cargo_json(["bench", "-p", "tinyalloc", "--no-run"]):
        name = message["target"]["name"]
        if message.get("executable") and name.startswith("alloc_"):
            binaries[name[len("alloc_"):]] = message["executable"]
    return binaries


def build_ffi():
    """Builds the LD_PRELOAD library and keeps a copy of it, since a later
    build without the feature overwrites target/release/libtinyalloc.so."""
    log("building libtinyalloc.so (cargo build --release --features ffi) ...")
    keep = os.path.join(WORK, "libtinyalloc.so")
    try:
        messages = cargo_json(["build", "--release", "-p", "tinyalloc",
                               "--features", "ffi", "--lib"])
    except subprocess.CalledProcessError:
        log("  the ffi build failed: LD_PRELOAD groups skip tinyalloc")
        return None
    for message in messages:
        for name in message.get("filenames", []):
            if name.endswith("libtinyalloc.so"):
                shutil.copyfile(name, keep)
    if not os.path.exists(keep) or not exports_malloc(keep):
        log("  libtinyalloc.so lacks malloc/free: skipping it")
        return None
    return keep


def exports_malloc(library):
    out = subprocess.run(["nm", "-D", "--defined-only", library],
                         capture_output=True, text=True).stdout
    symbols = {line.split()[-1] for line in out.splitlines() if line.strip()}
    return {"malloc", "free", "realloc", "calloc"} <= symbols


def bench_binaries():
    """The bench binaries of the last build (for NO_BUILD=1)."""
    binaries = {}
    deps = os.path.join(TARGET, "release", "deps")
    for allocator in RUST_ALLOCATORS:
        found = [os.path.join(deps, f) for f in os.listdir(deps)
                 if f.startswith(f"alloc_{allocator}-") and "." not in f]
        if found:
            binaries[allocator] = max(found, key=os.path.getmtime)
    return binaries


# ----------------------------------------------------- group 1: Rust level

def evict_from_page_cache(paths):
    """Drops the files' pages from the page cache, so that every binary
    and library under test is read back the same way (readahead, on its
    first run) rather than kept in whatever folios the linker's or a
    copy's writes left: copies of one binary made by `cp`, by `dd bs=4k`
    and by `dd bs=1M` started with peaks 0.2 to 1 MiB apart (on ext4 with
    large folios), more than some allocators' whole difference."""
    for path in paths:
        if not path:
            continue
        descriptor = os.open(path, os.O_RDONLY)
        try:
            os.fsync(descriptor)
            os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(descriptor)


def rust_group(binaries):
    rows = []
    allocators = [a for a in RUST_ALLOCATORS if a in binaries]
    evict_from_page_cache(binaries.values())
    for number in range(RUNS):
        log(f"rust workloads: run {number + 1}/{RUNS}")
        for workload in WORKLOADS + [IDLE]:
            turn = allocators[number % len(allocators):] + \
                allocators[:number % len(allocators)]
            for allocator in turn:
                rows.append(rust_run(binaries[allocator], allocator, workload,
                                     number))
    write_csv("rust_runs.csv", rows)
    return summarise(rows, "workload", allocators)


def rust_run(binary, allocator, workload, number):
    out = subprocess.run([binary, "--workload", workload, "--scale",
                          str(SCALE)], capture_output=True, text=True)
    row = {"run": number, "workload": workload, "allocator": allocator,
           "seconds": "", "cpu_seconds": "", "peak_kb": "", "final_kb": "",
           "status": out.returncode}
    if out.returncode == 0:
        _, seconds, cpu, peak, final, _ = out.stdout.strip().split(",")
        row.update(seconds=float(seconds), cpu_seconds=float(cpu),
                   peak_kb=int(peak), final_kb=int(final))
    else:
        log(f"  {allocator} {workload} failed ({out.returncode}): "
            f"{out.stderr.strip()[-300:]}")
    return row


def summarise(rows, key, allocators):
    """Medians per (key, allocator): {item: {allocator: (s, peak, final)}}."""
    medians = {}
    for row in rows:
        if row["status"] != 0:
            continue
        cell = medians.setdefault(row[key], {}).setdefault(
            row["allocator"], ([], [], []))
        cell[0].append(row["seconds"])
        cell[1].append(row["peak_kb"])
        cell[2].append(row["final_kb"])
    return {item: {a: tuple(statistics.median(v) for v in cells)
                   for a, cells in by_alloc.items()}
            for item, by_alloc in medians.items()}


# --------------------------------------------- group 2: callgrind per pair

def callgrind_group():
    driver = os.path.join(WORK, "pairs")
    run(["gcc", "-O2", "-fno-builtin", "-pthread",
         os.path.join(HERE, "callgrind", "pairs.c"), "-o", driver])
    variants = [("local", size) for size in PAIR_SIZES] + \
        [("cross", CROSS_SIZE)]
    overhead = {v: per_pair(driver, "null-" + v[0], v[1], "") for v in variants}
    rows = []
    results = {}
    for allocator, preload in PRELOADS.items():
        if preload is None:
            continue
        for mode, size in variants:
            log(f"callgrind: {allocator} {mode} {size}")
            gross = per_pair(driver, mode, size, preload)
            net = gross - overhead[(mode, size)]
            name = f"{mode}-{size}"
            results.setdefault(name, {})[allocator] = net
            rows.append({"variant": name, "allocator": allocator,
                         "gross": round(gross, 1),
                         "driver": round(overhead[(mode, size)], 1),
                         "net": round(net, 1)})
    write_csv("callgrind.csv", rows)
    if PRELOADS["tinyalloc"]:
        annotate(driver)
    return results


def callgrind_total(driver, mode, size, count, preload, extra=()):
    out_file = os.path.join(WORK, "callgrind.out")
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    if preload:
        env["LD_PRELOAD"] = preload
    out = subprocess.run(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out_file}",
         *extra, driver, mode, str(size), str(count)],
        env=env, capture_output=True, text=True)
    found = re.search(r"Collected : (\d+)", out.stderr)
    if out.returncode != 0 or not found:
        raise RuntimeError(f"callgrind failed: {out.stderr[-500:]}")
    return int(found.group(1)), out_file


def per_pair(driver, mode, size, preload):
    low, high = PAIR_COUNTS
    first, _ = callgrind_total(driver, mode, size, low, preload)
    second, _ = callgrind_total(driver, mode, size, high, preload)
    return (second - first) / (high - low)


def annotate(driver):
    """Saves callgrind_annotate's view of TinyAlloc's pair loops: the
    instructions per pair by function (inlined code counted in the function
    it was inlined into), and the source lines run at least once a pair."""
    for mode in ["local", "cross"]:
        _, out_file = callgrind_total(
            driver, mode, CROSS_SIZE, ANNOTATE_COUNT, PRELOADS["tinyalloc"],
            ["--dump-instr=yes"])
        functions = subprocess.run(
            ["callgrind_annotate", "--inclusive=no", "--auto=no", "--threshold=100",
             out_file], capture_output=True, text=True).stdout
        lines = subprocess.run(
            ["callgrind_annotate", "--auto=yes", "--context=0",
             "--threshold=100", out_file],
            capture_output=True, text=True).stdout
        path = os.path.join(RESULTS, f"callgrind_tinyalloc_{mode}.txt")
        with open(path, "w") as out:
            out.write(f"# TinyAlloc, pairs {mode} {CROSS_SIZE} bytes x "
                      f"{ANNOTATE_COUNT} (start-up not subtracted)\n")
            out.write("\n# ---- instructions per pair, by function ----\n")
            out.write(by_function(functions, ANNOTATE_COUNT))
            out.write("\n# ---- source lines run >= once per pair "
                      "(per pair) ----\n")
            out.write(hot_lines(lines, ANNOTATE_COUNT))


def by_function(annotated, count):
    """Sums callgrind_annotate's file:function rows per function."""
    totals = {}
    for line in annotated.splitlines():
        found = re.match(r"\s*([\d,]+) \(\s*[\d.]+%\)\s+\S*?:"
                         r"([^\s\[]+)", line)
        if found and "PROGRAM TOTALS" not in line:
            name = found.group(2)
            totals[name] = totals.get(name, 0) + \
                int(found.group(1).replace(",", ""))
    rows = sorted(totals.items(), key=lambda item: -item[1])
    return "".join(f"{value / count:8.2f}  {name}\n"
                   for name, value in rows if value >= count / 10)


def hot_lines(annotated, count):
    """The annotated source lines executed at least once per pair."""
    kept = []
    source = None
    for line in annotated.splitlines():
        if line.startswith("-- Auto-annotated source:"):
            source = line.split(":", 1)[1].strip()
            continue
        if "events annotated" in line:
            break
        found = re.match(r"\s*([\d,]+) \(\s*[\d.]+%\)\s+(.*)$", line)
        if source and found:
            value = int(found.group(1).replace(",", ""))
            if value >= count:
                kept.append(f"{value / count:7.2f}  "
                            f"{os.path.relpath(source, ROOT)}: "
                            f"{found.group(2).strip()}")
    return "\n".join(kept) + "\n"


# ------------------------------------------- group 3: real programs preload

def program_setup():
    """Builds the inputs once; returns {name: (argv, env extras, cwd)}."""
    programs_dir = os.path.join(HERE, "programs")
    scale = str(PROGRAM_SCALE)
    run(["gcc", "-O2", os.path.join(programs_dir, "measure.c"), "-o",
         os.path.join(WORK, "measure")])
    inputs = os.path.join(WORK, "programs")
    shutil.rmtree(inputs, ignore_errors=True)
    os.makedirs(inputs)
    sql = os.path.join(inputs, "bulk.sql")
    with open(sql, "w") as out:
        run([sys.executable, os.path.join(programs_dir, "gen_sql.py"), scale],
            stdout=out)
    source = os.path.join(inputs, "gen.c")
    with open(source, "w") as out:
        run([sys.executable, os.path.join(programs_dir, "gen_c.py"),
             str(0.25 * PROGRAM_SCALE)], stdout=out)
    repo = os.path.join(inputs, "repo")
    run(["git", "init", "-q", "-b", "main", repo])
    stream = subprocess.run(
        [sys.executable, os.path.join(programs_dir, "gen_git.py"),
         str(5 * PROGRAM_SCALE)], capture_output=True, check=True).stdout
    run(["git", "-C", repo, "fast-import", "--quiet", "--done"], input=stream)
    python = shutil.which("python3.11") or shutil.which("python3")
    python = os.path.realpath(python)
    return {
        "python3": ([python, os.path.join(programs_dir, "pywork.py"), scale],
                    {"PYTHONMALLOC": "malloc"}, None, None),
        "sqlite3": (["sqlite3", ":memory:"], {}, None, sql),
        "gcc": (["gcc", "-O2", "-c", source, "-o",
                 os.path.join(inputs, "gen.o")], {}, None, None),
        "git-log": (["git", "log", "-p", "--stat"], {}, repo, None),
        "git-repack": (["git", "-c", "pack.threads=1", "repack", "-a", "-d",
                        "-f", "-q"], {}, repo, None),
    }


def programs_group():
    programs = program_setup()
    allocators = [a for a, p in PRELOADS.items() if p is not None]
    evict_from_page_cache(PRELOADS.values())
    rows = []
    for number in range(RUNS):
        log(f"programs: run {number + 1}/{RUNS}")
        for name, spec in programs.items():
            turn = allocators[number % len(allocators):] + \
                allocators[:number % len(allocators)]
            for allocator in turn:
                rows.append(program_run(name, spec, allocator, number))
    write_csv("programs_runs.csv", rows)
    return summarise(rows, "program", allocators)


def program_run(name, spec, allocator, number):
    argv, extra_env, cwd, stdin_path = spec
    env = dict(os.environ, **extra_env)
    env.pop("LD_PRELOAD", None)
    if PRELOADS[allocator]:
        env["LD_PRELOAD"] = PRELOADS[allocator]
    stdin = open(stdin_path) if stdin_path else subprocess.DEVNULL
    out = subprocess.run([os.path.join(WORK, "measure")] + argv, env=env,
                         cwd=cwd, stdin=stdin, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    if stdin_path:
        stdin.close()
    stderr = out.stderr.decode(errors="replace")
    seconds, peak_kb, status = stderr.strip().splitlines()[-1].split()
    if status != "0":
        log(f"  {allocator} {name} failed ({status}): {stderr[-300:]}")
    return {"run": number, "program": name, "allocator": allocator,
            "seconds": float(seconds), "peak_kb": int(peak_kb),
            "final_kb": int(peak_kb), "status": int(status)}


# ---------------------------------------------------------------- reports

def write_csv(name, rows):
    if not rows:
        return
    with open(os.path.join(RESULTS, name), "w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def geomean(values):
    values = [v for v in values if v and v > 0]
    if not values:
        return float("nan")
    return math.exp(sum(math.log(v) for v in values) / len(values))


def ratio_table(title, medians, allocators, field, unit, extra_rows=()):
    """A markdown table of `field` (0 time, 1 peak RSS) as ratios against
    the base allocator, with the base's absolute value and a geomean row.
    Returns (markdown, {allocator: {item: ratio}})."""
    others = [a for a in allocators if a != BASE]
    header = f"| {title} | {BASE} ({unit}) | " + \
        " | ".join(f"{a} ×" for a in others) + " |"
    lines = [header, "|---" * (len(others) + 2) + "|"]
    ratios = {a: {} for a in others}
    items = [(item, field) for item in medians] + list(extra_rows)
    for item, column in items:
        cells = medians[item]
        base = cells.get(BASE, (None,) * 3)[column]
        label = item if column == field else f"{item} (final)"
        shown = format_absolute(base, unit)
        row = [label, shown]
        for allocator in others:
            value = cells.get(allocator, (None,) * 3)[column]
            if value is None or not base:
                row.append("fail")
                continue
            ratio = value / base
            if column == field:
                ratios[allocator][item] = ratio
            row.append(f"{ratio:.2f}")
        lines.append("| " + " | ".join(row) + " |")
    # Three decimals: the RSS geomeans of two allocators can differ by
    # less than 0.01 and still be apart.
    means = [f"{geomean(ratios[a].values()):.3f}" for a in others]
    lines.append("| **geomean** | 1.00 | " + " | ".join(
        f"**{m}**" for m in means) + " |")
    return "\n".join(lines), ratios


def startup_line(startup, allocators):
    """The start-up peak of each bench binary (the `idle` workload)."""
    shown = ", ".join(
        f"{a} {startup[a][1] / 1024:.1f}" for a in allocators if a in startup)
    return ("Start-up peak RSS of each binary (MiB, workload `idle`: "
            f"nothing allocated but the runtime's own): {shown}. It is in "
            "every peak above; the binaries differ by the allocator's code "
            "and data, the libc functions it calls, and the link layout "
            "(each binary is evicted from the page cache before the runs, "
            "see Method).")


def format_absolute(value, unit):
    if value is None:
        return "fail"
    if unit == "ms":
        return f"{value * 1000:.0f}"
    if unit == "s":
        return f"{value:.2f}"
    return f"{value / 1024:.1f}"


def callgrind_table(results):
    allocators = [a for a, p in PRELOADS.items() if p is not None]
    lines = ["| variant | " + " | ".join(allocators) + " | tinyalloc / "
             f"{BASE} |", "|---" * (len(allocators) + 2) + "|"]
    for variant, cells in results.items():
        row = [variant] + [f"{cells[a]:.1f}" if a in cells else "–"
                           for a in allocators]
        ours, base = cells.get("tinyalloc"), cells.get(BASE)
        row.append(f"{ours / base:.2f}" if ours and base else "–")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


# ------------------------------------------------------------------ chart

COLOURS = {"tinyalloc": "#d62728", "system": "#7f7f7f",
           "mimalloc": "#1f77b4", "jemalloc": "#2ca02c",
           "tcmalloc": "#9467bd"}


def svg_panel(x, y, width, height, title, categories, series, log_scale):
    """One grouped bar panel; values are ratios (log scale) or counts."""
    parts = [f'<text x="{x}" y="{y - 8}" font-size="14" '
             f'font-weight="bold">{escape(title)}</text>']
    values = [v for s in series.values() for v in s.values() if v]
    if not values:
        return parts
    if log_scale:
        low = min(0.25, min(values) / 1.2)
        high = max(4.0, max(values) * 1.2)
        low, high = 2 ** math.floor(math.log2(low)), \
            2 ** math.ceil(math.log2(high))

        def scale(v):
            return (math.log2(v) - math.log2(low)) / \
                (math.log2(high) - math.log2(low))
        ticks = [2 ** e for e in range(int(math.log2(low)),
                                       int(math.log2(high)) + 1)]
        floor = scale(1.0)
    else:
        high = max(values) * 1.1

        def scale(v):
            return v / high
        step = 10 ** math.floor(math.log10(high / 2))
        ticks = [step * k for k in range(0, int(high / step) + 1)]
        floor = 0.0
    parts.append(f'<rect x="{x}" y="{y}" width="{width}" height="{height}" '
                 'fill="none" stroke="#ccc"/>')
    for tick in ticks:
        ty = y + height - scale(tick) * height
        parts.append(f'<line x1="{x}" x2="{x + width}" y1="{ty:.1f}" '
                     f'y2="{ty:.1f}" stroke="#eee"/>')
        parts.append(f'<text x="{x - 4}" y="{ty + 4:.1f}" font-size="10" '
                     f'text-anchor="end">{tick:g}</text>')
    if log_scale:
        one = y + height - floor * height
        parts.append(f'<line x1="{x}" x2="{x + width}" y1="{one:.1f}" '
                     f'y2="{one:.1f}" stroke="#333"/>')
    group = width / max(1, len(categories))
    bar = group * 0.8 / max(1, len(series))
    for index, category in enumerate(categories):
        gx = x + index * group + group * 0.1
        for k, (allocator, values_of) in enumerate(series.items()):
            value = values_of.get(category)
            if not value:
                continue
            top = y + height - scale(value) * height
            base = y + height - floor * height
            y0, y1 = sorted([top, base])
            parts.append(
                f'<rect x="{gx + k * bar:.1f}" y="{y0:.1f}" '
                f'width="{bar * 0.9:.1f}" height="{max(y1 - y0, 0.5):.1f}" '
                f'fill="{COLOURS.get(allocator, "#000")}">'
                f'<title>{allocator} {category}: {value:.2f}</title></rect>')
        parts.append(f'<text x="{x + index * group + group / 2:.1f}" '
                     f'y="{y + height + 14}" font-size="10" '
                     f'text-anchor="middle">{escape(category)}</text>')
    return parts


def escape(text):
    return str(text).replace("&", "&amp;").replace("<", "&lt;")


def write_chart(panels, info):
    width, panel_height, gap = 960, 180, 70
    height = 60 + len(panels) * (panel_height + gap) + 40
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" '
             f'height="{height}" font-family="sans-serif">',
             f'<rect width="{width}" height="{height}" fill="white"/>',
             f'<text x="20" y="24" font-size="16" font-weight="bold">'
             f'TinyAlloc benchmarks ({info["mode"]} mode, {info["date"]}, '
             f'{info["nproc"]} cores, {escape(info["cpu"])})</text>',
             f'<text x="{width - 20}" y="46" font-size="11" '
             f'text-anchor="end">ratio panels: mimalloc = 1, lower is '
             f'better; system = glibc malloc</text>']
    allocators = list(COLOURS)
    for k, allocator in enumerate(allocators):
        parts.append(f'<rect x="{20 + k * 110}" y="36" width="12" '
                     f'height="12" fill="{COLOURS.get(allocator, "#000")}"/>')
        parts.append(f'<text x="{36 + k * 110}" y="46" font-size="12">'
                     f'{allocator}</text>')
    y = 90
    for title, categories, series, log_scale in panels:
        parts += svg_panel(70, y, width - 100, panel_height, title,
                           categories, series, log_scale)
        y += panel_height + gap
    parts.append("</svg>")
    with open(os.path.join(RESULTS, "chart.svg"), "w") as out:
        out.write("\n".join(parts) + "\n")


# ------------------------------------------------------------------- main

def main():
    os.makedirs(RESULTS, exist_ok=True)
    os.makedirs(WORK, exist_ok=True)
    started = time.time()
    info = machine_info()
    ensure_packages()
    info["versions"] = peer_versions()
    binaries = {}
    if "rust" in PARTS:
        binaries = bench_binaries() if os.environ.get("NO_BUILD") \
            else build_benches()
    if {"callgrind", "programs"} & set(PARTS):
        kept = os.path.join(WORK, "libtinyalloc.so")
        PRELOADS["tinyalloc"] = kept if os.environ.get("NO_BUILD") and \
            os.path.exists(kept) else build_ffi()
    log(f"built in {time.time() - started:.0f} s")
    measured = time.time()
    report = [f"Machine: {info['nproc']} cores, {info['cpu']}, Linux "
              f"{info['kernel']}, glibc {info['glibc']}, {info['rustc']}.  ",
              f"Peers: {info['versions']}.  ",
              f"Date: {info['date']}; commit {info['commit']}; "
              f"{info['mode']} mode, median of {info['runs']} runs.", ""]
    panels = []
    if "rust" in PARTS:
        medians = rust_group(binaries)
        startup = medians.pop(IDLE, {})
        allocators = [a for a in RUST_ALLOCATORS if a in binaries]
        time_table, time_ratios = ratio_table(
            "workload", medians, allocators, 0, "ms")
        rss_table, rss_ratios = ratio_table(
            "workload", medians, allocators, 1, "MiB",
            extra_rows=[("fragment", 2)] if "fragment" in medians else [])
        report += [f"### Rust workloads: time (scale {SCALE})", "",
                   time_table, "", "### Rust workloads: peak RSS", "",
                   rss_table, "", startup_line(startup, allocators), ""]
        panels += [("Rust workloads: time / mimalloc (log scale)",
                    list(medians), time_ratios, True),
                   ("Rust workloads: peak RSS / mimalloc (log scale)",
                    list(medians), rss_ratios, True)]
    if "callgrind" in PARTS:
        results = callgrind_group()
        report += ["### Instructions per malloc+free pair (callgrind, "
                   "driver loop subtracted)", "", callgrind_table(results), ""]
        series = {}
        for variant, cells in results.items():
            for allocator, value in cells.items():
                series.setdefault(allocator, {})[variant] = value
        panels.append(("Instructions per malloc+free pair", list(results),
                       series, False))
    if "programs" in PARTS:
        medians = programs_group()
        allocators = [a for a, p in PRELOADS.items() if p is not None]
        time_table, time_ratios = ratio_table(
            "program", medians, allocators, 0, "s")
        rss_table, rss_ratios = ratio_table(
            "program", medians, allocators, 1, "MiB")
        report += ["### Real programs under LD_PRELOAD: time", "",
                   time_table, "", "### Real programs under LD_PRELOAD: "
                   "peak RSS", "", rss_table, ""]
        panels += [("Programs (LD_PRELOAD): time / mimalloc (log scale)",
                    list(medians), time_ratios, True),
                   ("Programs (LD_PRELOAD): peak RSS / mimalloc (log scale)",
                    list(medians), rss_ratios, True)]
    report.append(f"Measured in {time.time() - measured:.0f} s "
                  f"(build {measured - started:.0f} s).")
    text = "\n".join(report) + "\n"
    with open(os.path.join(RESULTS, "summary.md"), "w") as out:
        out.write(text)
    write_chart(panels, info)
    if os.environ.get("UPDATE_DOCS") == "1":
        update_docs(text)
    print(text)


DOCS = os.path.join(ROOT, "docs", "BENCHMARKS.md")
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"


def update_docs(text):
    """Replaces the generated block of docs/BENCHMARKS.md with `text`."""
    docs = open(DOCS).read()
    if BEGIN not in docs or END not in docs:
        log(f"{DOCS} has no {BEGIN} ... {END} block: not updated")
        return
    head, rest = docs.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    with open(DOCS, "w") as out:
        out.write(f"{head}{BEGIN}\n{text}{END}{tail}")


if __name__ == "__main__":
    main()

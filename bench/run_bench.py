"""End-to-end benchmark behind `make bench`: zonewarden against the physical limit and its peers.

Every case is a separate child process on the same capture (so process start counts), run --repeat
times; the table reports the median wall time and the peak RSS from the child's own rusage (wait4).
To add a case, add a row to CASES (and a RATIOS or BARS row if it should be compared).
"""

import argparse
import contextlib
import datetime as dt
import hashlib
import json
import os
import platform
import re
import shlex
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STANDARD_COPIES = 14  # make_bench_capture.py default: about 1.04M packets, 119 MB
BIG_BYTES = 2 * 2**30
RSS_BAR_MB = 300.0
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


@dataclass(frozen=True)
class Case:
    """A command line; {pcap}, {python}, {bench}, {zonewarden} are filled in. stdout: 'null' or 'file'."""

    name: str
    kind: str  # limit | peer | zonewarden (zonewarden cases get an untimed warm-up run)
    argv: tuple[str, ...]
    stdout: str = "null"


CASES: tuple[Case, ...] = (
    Case("raw-read", "limit", ("dd", "if={pcap}", "of=/dev/null", "bs=8M", "status=none")),
    Case("dpkt-l4-loop", "peer", ("{python}", "{bench}/dpkt_l4_loop.py", "{pcap}")),
    Case("tshark-conv", "peer", ("tshark", "-r", "{pcap}", "-q", "-z", "conv,tcp", "-z", "conv,udp")),
    Case("zonewarden-flows", "zonewarden", ("{zonewarden}", "flows", "{pcap}", "--format", "jsonl"), "file"),
    # Issue 3: every application message of the four plant protocols, against tshark extracting the same
    # contract fields (Modbus, S7comm, DNP3, EtherNet/IP/CIP) on the same file.
    Case("tshark-fields", "peer", (
        "tshark", "-n", "-r", "{pcap}", "-T", "fields", "-E", "occurrence=a",
        "-e", "frame.number", "-e", "frame.time_epoch", "-e", "ip.src", "-e", "ip.dst", "-e", "tcp.srcport",
        "-e", "tcp.dstport", "-e", "mbtcp.trans_id", "-e", "mbtcp.unit_id", "-e", "modbus.func_code",
        "-e", "modbus.reference_num", "-e", "modbus.word_cnt", "-e", "s7comm.header.rosctr",
        "-e", "s7comm.param.func", "-e", "s7comm.header.pduref", "-e", "dnp3.src", "-e", "dnp3.dst",
        "-e", "dnp3.al.func", "-e", "dnp3.al.obj", "-e", "dnp3.al.iin", "-e", "enip.command", "-e", "enip.session",
        "-e", "cip.sc", "-e", "cip.class", "-e", "cip.instance", "-e", "cip.genstat"), "file"),
    Case("zonewarden-events", "zonewarden", ("{zonewarden}", "events", "{pcap}", "-q"), "file"),
    # The same in one process: the default shares the flows among one worker per CPU (at most 4).
    Case("zonewarden-events-1-worker", "zonewarden", ("{zonewarden}", "events", "{pcap}", "-q", "--workers", "1"),
         "file"),
    # Issue 4: the whole main job (flows, events, inventory, store) against flows alone.
    Case("zonewarden-analyze", "zonewarden", ("{zonewarden}", "analyze", "{pcap}", "--db", ":memory:", "-q")),
)
# (subject, baseline): subject speed as a multiple of baseline speed; a raw-read baseline is a fraction.
RATIOS: tuple[tuple[str, str], ...] = (
    ("zonewarden-flows", "dpkt-l4-loop"),
    ("zonewarden-flows", "tshark-conv"),
    ("zonewarden-flows", "raw-read"),
    ("zonewarden-events", "tshark-fields"),
    ("zonewarden-events-1-worker", "tshark-fields"),
    ("zonewarden-analyze", "zonewarden-flows"),
)
BARS: tuple[tuple[str, str, float], ...] = (  # (subject, baseline, minimum speed-up) from the project issue
    ("zonewarden-flows", "dpkt-l4-loop", 10.0),
    ("zonewarden-flows", "tshark-conv", 20.0),
    ("zonewarden-events", "tshark-fields", 10.0),
    # analyze may cost at most 50% on top of flows: its speed at least 1/1.5 of flows' speed
    ("zonewarden-analyze", "zonewarden-flows", 1 / 1.5),
)


@dataclass
class Result:
    case: Case
    argv: list[str]
    seconds: list[float] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)
    rss_floor_mb: float = 0.0  # see reset_peak_rss: a child cannot report less than this
    error: str = ""
    output_lines: int | None = None
    warmup_s: float | None = None

    @property
    def ok(self) -> bool:
        return not self.error and bool(self.seconds)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def reset_peak_rss() -> float:
    """Lower our RSS high-water mark to the current RSS (MB) and return that.

    Linux hands a child its parent's high-water mark at exec, so without this every child's ru_maxrss
    would be at least the harness's own peak; with it the floor is the harness's current RSS.
    """
    with contextlib.suppress(OSError), open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    status = Path("/proc/self/status").read_text().splitlines()
    return next(int(ln.split()[1]) for ln in status if ln.startswith("VmRSS")) * 1024 / 1e6


def run_once(argv: list[str], stdout_path: Path | None, timeout: float) -> tuple[float, float, float, str]:
    """Wall seconds, peak RSS and its floor (MB, 10^6 bytes), and an error ('' if none) of one child run."""
    with open(stdout_path or os.devnull, "wb") as out, tempfile.TemporaryFile() as err:
        floor = reset_peak_rss()
        t0 = time.perf_counter()
        try:
            proc = subprocess.Popen(argv, stdout=out, stderr=err)
        except OSError as e:
            return 0.0, 0.0, floor, f"cannot start: {e}"
        killer = threading.Timer(timeout, proc.kill)
        killer.start()
        _, status, usage = os.wait4(proc.pid, 0)  # the child's own rusage, unlike RUSAGE_CHILDREN
        wall = time.perf_counter() - t0
        killer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here; keeps Popen from re-waiting
        if proc.returncode != 0:
            err.seek(0)
            tail = "\n".join(err.read().decode(errors="replace").splitlines()[-15:])
            why = f"killed by --timeout {timeout:g}" if wall >= timeout else f"exit status {proc.returncode}"
            return wall, 0.0, floor, f"{why} after {wall:.1f}s\n{tail}"
    return wall, usage.ru_maxrss * 1024 / 1e6, floor, ""  # ru_maxrss is KiB on Linux


def run_case(case: Case, subs: dict[str, str], repeat: int, work: Path, timeout: float,
             warmup: bool = True) -> Result:
    argv = [re.sub(r"\{(\w+)\}", lambda m: subs[m[1]], a) for a in case.argv]
    res = Result(case, argv)
    out = work / f"{case.name}.out" if case.stdout == "file" else None
    if warmup and case.kind == "zonewarden":  # numba compiles on first use and caches the machine code
        res.warmup_s, _, _, res.error = run_once(argv, out, timeout)
    for i in range(repeat if not res.error else 0):
        wall, rss, floor, error = run_once(argv, out, timeout)
        if error:
            res.error = error
            break
        res.seconds.append(wall)
        res.rss_mb.append(rss)
        res.rss_floor_mb = max(res.rss_floor_mb, floor)
        print(f"  {case.name} run {i + 1}/{repeat}: {wall:.2f}s, {rss:.0f} MB", file=sys.stderr)
    if out is not None and out.exists() and res.ok:
        with open(out, "rb") as f:
            res.output_lines = sum(1 for _ in f)
    return res


def build_capture(tool: Path, out: Path, copies: int) -> list[str]:
    cmd = [sys.executable, str(tool), str(out), "--copies", str(copies)]
    if not out.exists():
        print(f"building {out} ({copies} copies)...", file=sys.stderr)
        tmp = out.with_suffix(".partial")
        subprocess.run([*cmd[:2], str(tmp), *cmd[3:]], check=True)
        tmp.rename(out)  # a half-written capture is never reused
    return cmd


def count_packets(path: Path) -> int:
    if shutil.which("capinfos"):
        done = subprocess.run(["capinfos", "-c", "-M", str(path)], capture_output=True, text=True)
        for line in done.stdout.splitlines():
            if line.startswith("Number of packets:"):
                return int(line.split(":")[1])
    with open(path, "rb") as f:  # fall back to walking the record headers (classic pcap only)
        endian = "<" if f.read(24)[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
        n = 0
        while len(hdr := f.read(16)) == 16:
            f.seek(struct.unpack(endian + "8xI4x", hdr)[0], 1)
            n += 1
    return n


def first_line(argv: list[str]) -> str:
    """First line of a command's stdout, '' if it is missing or fails."""
    if not shutil.which(argv[0]):
        return ""
    done = subprocess.run(argv, capture_output=True, text=True)
    return done.stdout.splitlines()[0].strip() if done.returncode == 0 and done.stdout else ""


def machine() -> list[str]:
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor() or "unknown")
    mem_kib = next(int(ln.split()[1]) for ln in Path("/proc/meminfo").read_text().splitlines()
                   if ln.startswith("MemTotal"))
    import importlib.metadata  # here, not at the top: it costs the harness ~10 MB RSS (see reset_peak_rss)

    versions = [f"Python {platform.python_version()}"]
    for dist in ("numpy", "numba", "dpkt", "zonewarden"):
        try:
            versions.append(f"{dist} {importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{dist} not installed")
    versions.append(first_line(["tshark", "--version"]) or "tshark not installed")
    tree = first_line(["git", "-C", str(REPO), "describe", "--always", "--dirty"]) or "no commit yet"
    nproc = len(os.sched_getaffinity(0))
    return [f"- Machine: {nproc} CPUs (nproc), {cpu}, {mem_kib / 2**20:.1f} GiB memory,"
            f" {platform.system()} {platform.release()}",
            f"- Versions: {', '.join(versions)}",
            f"- zonewarden tree: {tree}"]


def speedup(results: dict[str, Result], subject: str, baseline: str) -> float | None:
    s, b = results.get(subject), results.get(baseline)
    return b.median / s.median if s and b and s.ok and b.ok else None


def rss_cell(r: Result) -> str:
    peak = max(r.rss_mb)
    return f"{peak:.0f}" if peak > r.rss_floor_mb + 1 else f"<={r.rss_floor_mb:.0f}"


def table(results: list[Result], packets: int, size: int) -> list[list[str]]:
    rows = [["case", "kind", "status", "median s", "packets/s", "MB/s", "peak RSS MB", "runs"]]
    for r in results:
        if r.ok:
            secs = f"{r.median:.3f}" if r.median < 10 else f"{r.median:.1f}"
            rows.append([r.case.name, r.case.kind, "ok", secs, f"{packets / r.median:,.0f}",
                         f"{size / 1e6 / r.median:.1f}", rss_cell(r), str(len(r.seconds))])
        else:
            rows.append([r.case.name, r.case.kind, "FAILED", "-", "-", "-", "-", "0"])
    return rows


def plain(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    cells = ([c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))]
             for r in rows)
    return "\n".join("  ".join(r).rstrip() for r in cells)


def markdown(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(r) + " |" for r in rows]
    lines.insert(1, "|" + "|".join(" --- " if i < 3 else " ---: " for i in range(len(rows[0]))) + "|")
    return "\n".join(lines)


def ratio_lines(by_name: dict[str, Result]) -> list[str]:
    lines = []
    for subject, baseline in RATIOS:
        x = speedup(by_name, subject, baseline)
        if x is None:
            lines.append(f"- {subject} vs {baseline}: n/a (a case failed or was not selected)")
        elif by_name[baseline].case.kind == "limit":
            lines.append(f"- {subject} runs at {x:.1%} of {baseline} (the physical limit)")
        else:
            lines.append(f"- {subject} is {x:.3g}x as fast as {baseline}")
    return lines


def bar_rows(by_name: dict[str, Result], big: list[Result] | None) -> list[list[str]]:
    rows = [["bar", "measured", "result"]]
    for subject, baseline, need in BARS:
        x = speedup(by_name, subject, baseline)
        verdict = "N/A" if x is None else "PASS" if x >= need else "FAIL"
        measured = "n/a" if x is None else f"{x:.3g}x"
        rows.append([f"{subject} >= {need:g}x {baseline} end to end", measured, verdict])
    label = f"zonewarden peak RSS < {RSS_BAR_MB:g} MB on a 2 GB capture"
    if big is None:
        rows.append([label, "not measured (rerun with --big)", "N/A"])
    elif not all(r.ok for r in big) or not big:
        rows.append([label, "run failed", "FAIL"])
    else:
        peak = max(max(r.rss_mb) for r in big)
        rows.append([label, f"{peak:.0f} MB", "PASS" if peak < RSS_BAR_MB else "FAIL"])
    return rows


def write_report(path: Path, block: str, begin: str = BEGIN, end: str = END) -> None:
    """``block`` between the ``begin`` and ``end`` markers of ``path``: in place of what they held, or appended."""
    block = f"{begin}\n{block.rstrip()}\n{end}"
    text = path.read_text() if path.exists() else "# zonewarden benchmarks\n"
    if begin in text and end in text[text.index(begin):]:
        head, rest = text.split(begin, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text)


@dataclass(frozen=True)
class Inventory:
    assets: int
    edges: int
    phases: dict[str, float] | None  # seconds per phase of one in-process analyze (analyze_phases.py)
    floor_s: float | None  # median wall time of analyze_floor.py as a process: analyze's work less the inventory


def inventory_size(zonewarden: str, pcap: Path, cache_dir: Path, timeout: float) -> Inventory | None:
    """Assets and edges `zonewarden analyze` makes of the capture (one untimed run writing --json), and where an
    in-process run spends its time (analyze_phases.py; None if that fails)."""
    out = cache_dir / "zonewarden-analyze.json"
    proc = subprocess.run([zonewarden, "analyze", str(pcap), "--db", ":memory:", "-q", "--json", str(out)],
                          capture_output=True, timeout=timeout, check=False)
    if proc.returncode != 0 or not out.exists():
        return None
    doc = json.loads(out.read_text())
    python = str(Path(zonewarden).with_name("python"))
    phases = subprocess.run([python, str(REPO / "bench" / "analyze_phases.py"), str(pcap)], capture_output=True,
                            text=True, timeout=timeout, check=False)
    floor = [run_once([python, str(REPO / "bench" / "analyze_floor.py"), str(pcap)], None, timeout) for _ in range(3)]
    return Inventory(len(doc["assets"]), len(doc["edges"]),
                     json.loads(phases.stdout) if phases.returncode == 0 else None,
                     None if any(run[3] for run in floor) else statistics.median(run[0] for run in floor))


def inventory_line(by_name: dict[str, Result], inventory: Inventory | None) -> list[str]:
    r = by_name.get("zonewarden-analyze")
    if r is None or not r.ok or inventory is None:
        return []
    lines = [f"- zonewarden-analyze builds {inventory.assets:,} assets and {inventory.edges:,} edges:"
             f" {inventory.assets / r.median:,.0f} assets/s (median time)"]
    if inventory.phases:
        lines.append("- zonewarden-analyze in one in-process run (bench/analyze_phases.py), seconds: "
                     + ", ".join(f"{k.replace('_', ' ')} {v:.3f}" for k, v in inventory.phases.items()))
    flows = by_name.get("zonewarden-flows")
    if inventory.floor_s is not None and flows is not None and flows.ok:
        lines.append(f"- analyze's floor, its work less the inventory (bench/analyze_floor.py: the flows, the fast"
                     f" lane's ICS messages, the store's import; median of 3 runs as a process):"
                     f" {inventory.floor_s:.3f} s, {inventory.floor_s / flows.median:.2f}x the time of"
                     f" zonewarden-flows")
    return lines


def report(a: argparse.Namespace, pcap: Path, build_cmd: list[str], packets: int, results: list[Result],
           big: list[Result] | None, big_cmd: list[str] | None, inventory: Inventory | None) -> str:
    by_name = {r.case.name: r for r in results}
    size = pcap.stat().st_size
    with open(pcap, "rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
    this_run = shlex.join(["bench/run_bench.py", *sys.argv[1:]])
    warmups = ", ".join(f"{r.case.name} {r.warmup_s:.1f}s" for r in results if r.warmup_s is not None)
    lines = ", ".join(f"{r.case.name} {r.output_lines:,}" for r in results if r.output_lines is not None)
    md = [f"## Results, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC", "",
          "Produced by `make bench` (runs `.venv/bin/python bench/run_bench.py --out BENCHMARKS.md`);"
          f" this run: `{this_run}`. Generated: text between the bench markers is replaced on every run,"
          " text outside them is kept.", "", *machine(), "",
          f"Capture: `{pcap}`, {packets:,} packets, {size:,} bytes, SHA-256 `{digest}`; built with"
          f" `{shlex.join([Path(build_cmd[0]).name, *build_cmd[1:]])}` (four plant captures from the shared"
          " corpus merged in time order, copied with distinct addresses).", "",
          markdown(table(results, packets, size)), "", *ratio_lines(by_name), *inventory_line(by_name, inventory), "",
          "### Bars", "", markdown(bar_rows(by_name, big)), "", "### Method", "",
          f"- Each case is a separate child process (program or interpreter start included), run {a.repeat}"
          " time(s) on the same file after one untimed read of it (warm page cache); the median wall time is"
          " reported. Peak RSS is the child's own `ru_maxrss` from `wait4` (max over runs); Linux gives a"
          " child its parent's high-water mark at exec, so the harness resets its own first and a figure"
          " at or below the harness's own resident size shows as `<=N`. MB = 10^6 bytes.",
          "- Every zonewarden case gets one untimed warm-up run first: numba compiles the hot path on first"
          " use and caches the machine code on disk, so timed runs measure the steady state. Warm-up wall"
          f" time, compile included: {warmups or 'no zonewarden case run'}.",
          f"- Output lines of the cases writing to a file (last run): {lines or 'n/a'}.",
          f"- `zonewarden events` runs as it does by default here: one worker process per CPU ({os.cpu_count()},"
          " at most 4), each reading the capture and analysing its share of the flows; the single-process"
          " figure is the -1-worker case. `zonewarden analyze` forks one process that reads the address"
          " sightings while the first reads flows and events (pipeline/analysis.py). tshark and the dpkt loop are"
          " single processes. For the forked cases, the peak RSS is the largest of the processes' (wait4 reports"
          " a process's own peak or its reaped children's, whichever is larger), not their sum.",
          "- `zonewarden events` writes the Modbus/S7comm/DNP3/EtherNet-IP flows its compiled encoders take"
          " (pipeline/eventlane*.py) in compiled code: each process reads the capture twice (a survey, then the"
          " writing pass); the lines are byte for byte the Python analyzers' (ZONEWARDEN_EVENTLANE=0;"
          " tests/pipeline/test_eventlane_parity.py)."]
    if big is not None and big_cmd is not None:
        runs = ", ".join(f"{r.case.name} ({r.median:.1f}s, {rss_cell(r)} MB)" if r.ok
                         else f"{r.case.name} (failed)" for r in big)
        md.append(f"- RSS bar: `{shlex.join([Path(big_cmd[0]).name, *big_cmd[1:]])}`"
                  f" ({Path(big_cmd[2]).stat().st_size:,} bytes), one run of each zonewarden case: {runs}.")
    md += ["", "### Commands", "", "```sh"]
    for r in results:
        sink = a.cache_dir / f"{r.case.name}.out" if r.case.stdout == "file" else os.devnull
        md.append(f"{shlex.join(r.argv)} > {sink}  # {r.case.name}")
    md.append("```")
    for r in [*results, *(big or [])]:
        if r.error:
            md += ["", f"Failure of {r.case.name}:", "", "```", r.error.rstrip(), "```"]
    return "\n".join(md)


def main() -> int:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "zonewarden-bench"
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, help="Markdown report to create or update (between bench markers)")
    ap.add_argument("--cache-dir", type=Path, default=cache, help=f"where captures are built ({cache})")
    ap.add_argument("--shared", type=Path, default=REPO.parent / "shared", help="tree with tools/, corpus/")
    ap.add_argument("--zonewarden", type=Path, default=REPO / ".venv/bin/zonewarden", help="executable")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per case (median reported)")
    ap.add_argument("--cases", help="comma-separated subset of: " + ",".join(c.name for c in CASES))
    ap.add_argument("--big", action="store_true", help="also measure zonewarden peak RSS on a ~2 GB capture")
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds before a single run is killed")
    a = ap.parse_args()
    wanted = a.cases.split(",") if a.cases else [c.name for c in CASES]
    if unknown := set(wanted) - {c.name for c in CASES}:
        ap.error(f"unknown case(s): {', '.join(sorted(unknown))}")
    if a.repeat < 1:
        ap.error("--repeat must be at least 1")
    cases = [c for c in CASES if c.name in wanted]

    tool = a.shared / "tools" / "make_bench_capture.py"
    if not tool.is_file():
        ap.error(f"{tool} not found: point --shared at the shared tree")
    a.cache_dir.mkdir(parents=True, exist_ok=True)
    pcap = a.cache_dir / f"bench-{STANDARD_COPIES}x.pcap"
    build_cmd = build_capture(tool, pcap, STANDARD_COPIES)
    size, packets = pcap.stat().st_size, count_packets(pcap)
    with open(pcap, "rb", buffering=0) as f:  # every case starts from a warm page cache
        buf = bytearray(1 << 20)  # small and reused, so the harness's own RSS stays low
        while f.readinto(buf):
            pass
    subs = {"python": sys.executable, "bench": str(REPO / "bench"), "zonewarden": str(a.zonewarden),
            "pcap": str(pcap)}
    results = []
    for case in cases:
        print(f"{case.name}:", file=sys.stderr)
        results.append(run_case(case, subs, a.repeat, a.cache_dir, a.timeout))
        if results[-1].error:
            print(f"  FAILED: {results[-1].error}", file=sys.stderr)

    big: list[Result] | None = None
    big_cmd: list[str] | None = None
    # The RSS bar (issue 2) is about the packet engine: `zonewarden flows` on the 2 GB capture.
    zw_cases = [r.case for r in results if r.case.name == "zonewarden-flows" and r.ok]
    if a.big and zw_cases:
        per_copy = (size - 24) // STANDARD_COPIES
        copies = min(255, -(-(BIG_BYTES - 24) // per_copy))  # the tool shifts one address octet per copy
        big_pcap = a.cache_dir / f"bench-{copies}x.pcap"
        big_cmd = build_capture(tool, big_pcap, copies)
        big = [run_case(c, {**subs, "pcap": str(big_pcap)}, 1, a.cache_dir, a.timeout, False)
               for c in zw_cases]  # already warmed up on the standard capture

    by_name = {r.case.name: r for r in results}
    analyzed = by_name.get("zonewarden-analyze")
    inventory = inventory_size(str(a.zonewarden), pcap, a.cache_dir, a.timeout) if analyzed and analyzed.ok else None
    print("\n" + plain(table(results, packets, size)), *ratio_lines(by_name), *inventory_line(by_name, inventory),
          sep="\n")
    print("\n" + plain(bar_rows(by_name, big)))
    if a.out:
        write_report(a.out, report(a, pcap, build_cmd, packets, results, big, big_cmd, inventory))
        print(f"\nwrote {a.out}", file=sys.stderr)
    return 1 if any(not r.ok for r in [*results, *(big or [])] if r.case.kind == "zonewarden") else 0


if __name__ == "__main__":
    sys.exit(main())

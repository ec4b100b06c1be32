"""Where the main job's CPU time goes: each process's CPU seconds over time.

``/usr/bin/time`` around ``bayes-hte run`` counts only the main process: the internal-
external cross-validation and the trace and rank plots run in processes of the
``forkserver`` (``docs/performance.md``, "The main job"), which are not its children.
This script runs the job once as a subprocess, reads every process of its tree with
psutil every ``--interval`` seconds (user + system CPU of all their threads), timestamps
each line of the job's log as it arrives, and prints

- per process: when it was first and last seen, its CPU seconds and its mean number of
  busy cores while it lived;
- per window of ``--window`` seconds: the busy cores of each process and in all;
- the job's wall time and its CPU seconds in all.

``--cold`` gives the job empty PyTensor and numba compilation caches (what a fresh
machine has). The outputs go to a temporary folder (removed at the end) unless ``--out``
names one.

    python benchmarks/bench_job_cpu.py [models/ipdma_binary_demo.toml] [--cold]
        [--out FOLDER] [--interval 2] [--window 20]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time

import psutil


def _cpu(proc: psutil.Process) -> float | None:
    try:
        t = proc.cpu_times()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None
    return t.user + t.system


def _label(proc: psutil.Process, root: int) -> str:
    try:
        cmd = " ".join(proc.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return "?"
    if proc.pid == root:
        return "main"
    if "forkserver" in cmd:
        return "forkserver child"
    if "resource_tracker" in cmd:
        return "resource tracker"
    return cmd[:40]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec", nargs="?", default="models/ipdma_binary_demo.toml")
    parser.add_argument("--cold", action="store_true",
                        help="empty PyTensor and numba compilation caches")
    parser.add_argument("--out", default=None,
                        help="output folder of the job (default: a temporary one)")
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between reads")
    parser.add_argument("--window", type=float, default=20.0, help="seconds per table row")
    args = parser.parse_args()

    env = dict(os.environ, MPLBACKEND="Agg")
    caches = tempfile.TemporaryDirectory(prefix="bench_job_cpu_") if args.cold else None
    if caches is not None:
        os.makedirs(f"{caches.name}/pytensor"), os.makedirs(f"{caches.name}/numba")
        env["PYTENSOR_FLAGS"] = f"base_compiledir={caches.name}/pytensor"
        env["NUMBA_CACHE_DIR"] = f"{caches.name}/numba"
    scratch = tempfile.TemporaryDirectory(prefix="bench_job_cpu_out_")
    out = args.out or f"{scratch.name}/results"
    start = time.perf_counter()
    job = subprocess.Popen(
        [sys.executable, "-c", "import sys; from bayes_hte.cli import main; "
         "sys.exit(main(sys.argv[1:]))", "run", args.spec, "--no-progress", "--out", out],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    log: list[tuple[float, str]] = []

    def read_log() -> None:
        for line in job.stdout:
            log.append((time.perf_counter() - start, line.rstrip()))

    reader = threading.Thread(target=read_log, daemon=True)
    reader.start()
    root = psutil.Process(job.pid)
    seen: dict[int, dict] = {}  # pid -> label, first, last, samples [(t, cpu)]
    while job.poll() is None:
        now = time.perf_counter() - start
        try:
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            break
        for proc in procs:
            cpu = _cpu(proc)
            if cpu is None:
                continue
            rec = seen.setdefault(proc.pid, {"label": _label(proc, job.pid), "first": now,
                                             "samples": []})
            rec["last"] = now
            rec["samples"].append((now, cpu))
        time.sleep(args.interval)
    wall = time.perf_counter() - start
    reader.join(timeout=10)
    if caches is not None:
        caches.cleanup()
    scratch.cleanup()

    print(f"job: exit code {job.returncode}, wall {wall:.1f} s")
    busy = {pid: rec for pid, rec in seen.items() if rec["samples"][-1][1] >= 1.0}
    names = {}
    for k, (pid, rec) in enumerate(sorted(busy.items(), key=lambda kv: kv[1]["first"])):
        names[pid] = "main" if rec["label"] == "main" else f"P{k}"
    print("\nprocess  label                first (s)  last (s)  CPU (s)  mean busy cores")
    total = 0.0
    for pid, rec in sorted(busy.items(), key=lambda kv: kv[1]["first"]):
        cpu = rec["samples"][-1][1]
        total += cpu
        life = max(rec["last"] - rec["first"], args.interval)
        print(f"{names[pid]:>7}  {rec['label'][:20]:20} {rec['first']:9.0f} {rec['last']:9.0f} "
              f"{cpu:8.1f}  {cpu / life:15.2f}")
    print(f"all      {'':20} {'':9} {'':9} {total:8.1f}  {total / wall:15.2f}"
          "  (over the wall time)")

    print(f"\nbusy cores per {args.window:.0f}-s window (CPU seconds of the window / its length)")
    order = sorted(busy, key=lambda pid: busy[pid]["first"])
    print("window (s)  " + "  ".join(f"{names[p]:>6}" for p in order) + "     all")
    edges = [args.window * k for k in range(int(wall // args.window) + 2)]

    def cpu_at(samples, t):
        last = 0.0
        for ts, c in samples:
            if ts > t:
                break
            last = c
        return last

    for lo, hi in zip(edges[:-1], edges[1:], strict=False):
        if lo >= wall:
            break
        cells = [(cpu_at(busy[p]["samples"], hi) - cpu_at(busy[p]["samples"], lo))
                 / args.window for p in order]
        print(f"{lo:4.0f}-{hi:4.0f}   " + "  ".join(f"{c:6.2f}" for c in cells)
              + f"  {sum(cells):6.2f}")

    print("\nthe job's log, timestamped on arrival:")
    for t, line in log:
        print(f"{t:7.1f}  {line}")


if __name__ == "__main__":
    main()

"""Peak memory (RSS) and wall time of `ketasim trial --out` at growing patient counts.

A benchmark, not a test: ``python benchmarks/memory.py [--sizes 10000,50000] [--days 84] [--tiny]``.

The trial: 2 arms over `days` days. Arm A: ketamine 0.5 mg/kg over 40 min twice weekly for 4
weeks (8 infusions) + escitalopram 10 mg daily; arm B: saline infusions on the same days +
escitalopram (the arms of benchmarks/engines.py and benchmarks/gpu.py). Population: MDD with the
whole baseline window [0, 60], so there is no TRD screening and no run-in (as in those
benchmarks, which draw unscreened candidates). Endpoints: MADRS at visits on days 1, 7, 14, 21,
28, 42, 56, 70, 84 (those up to `days`).

Each size is one fresh process, `python -m ketasim trial FILE --json --out DIR`, so the Parquet
file is streamed chunk by chunk as in real use. Sizes are total patients (both arms). Peak RSS
comes from ``/usr/bin/time -v`` ("Maximum resident set size"); without it, from
resource.getrusage(RUSAGE_CHILDREN) in a small wrapper process per run. The last lines
extrapolate a 1,000,000-patient run linearly from the two largest sizes (time and memory).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

INFUSION_DAYS = ("0 d", "3 d", "7 d", "10 d", "14 d", "17 d", "21 d", "24 d")
VISIT_DAYS = (1, 7, 14, 21, 28, 42, 56, 70, 84)
TIME_V = "/usr/bin/time"
EXTRAPOLATE_TO = 1_000_000

_WRAPPER = """\
import resource, subprocess, sys, time
start = time.perf_counter()
code = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL)
wall = time.perf_counter() - start
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, wall, code)
"""


def trial_toml(days: float, seed: int = 1) -> str:
    """The trial file (TOML text) for `days` days; patients per arm come from the command line."""
    visits = ", ".join(f'"{d} d"' for d in VISIT_DAYS if d <= days) or f'"{days:g} d"'
    at = ", ".join(f'"{d}"' for d in INFUSION_DAYS if float(d.split()[0]) < days)
    ssri = f'{{ drug = "escitalopram", route = "oral", amount = "10 mg", every = "1 d", from = "0 d", until = "{days:g} d" }}'
    arms = []
    for name, drug, amount in (("ketamine + escitalopram", "ketamine", "0.5 mg/kg"), ("saline + escitalopram", "saline", "0 mg")):
        arms.append(f'[[arms]]\nname = "{name}"\ndoses = [\n  {{ drug = "{drug}", route = "iv", amount = "{amount}", '
                    f'infusion = "40 min", at = [{at}] }},\n  {ssri},\n]\n')
    return (f'name = "memory benchmark: ketamine vs saline on escitalopram, {days:g} d"\nseed = {seed}\npatients_per_arm = 10\n\n'
            '[population]\nkind = "mdd"\nbaseline_madrs = [0, 60]\n\n' + "\n".join(arms)
            + f'\n[endpoints]\nvisits = [{visits}]\nresponse = "50%"\nremission = 10\n')


@dataclass
class Measurement:
    """One run: total patients, peak resident set size (MB), wall seconds, Parquet rows and row groups."""

    total: int
    peak_mb: float
    wall_s: float
    rows: int
    row_groups: int

    @property
    def per_s(self) -> float:
        return self.total / self.wall_s


def _parse_time_v(text: str) -> tuple[float, float]:
    """Peak RSS (MB) and wall seconds from the report of /usr/bin/time -v."""
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", text)
    if rss is None or wall is None:
        raise RuntimeError(f"unexpected /usr/bin/time output:\n{text}")
    seconds = 0.0
    for part in wall.group(1).split(":"):
        seconds = 60.0 * seconds + float(part)
    return int(rss.group(1)) / 1024.0, seconds


def measure(trial: Path, total: int, out: Path, engine: str = "fast", chunk_size: int | None = None) -> Measurement:
    """Run the CLI once in a fresh process for `total` patients (half per arm); its peak RSS and wall time."""
    per_arm = max(total // 2, 1)
    command = [sys.executable, "-m", "ketasim", "trial", str(trial), "--json", "--patients-per-arm", str(per_arm),
               "--engine", engine, "--out", str(out)]
    if chunk_size:
        command += ["--chunk-size", str(chunk_size)]
    if Path(TIME_V).exists():
        done = subprocess.run([TIME_V, "-v", *command], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"ketasim trial failed ({done.returncode}):\n{done.stderr[-2000:]}")
        peak_mb, wall = _parse_time_v(done.stderr)
    else:
        done = subprocess.run([sys.executable, "-c", _WRAPPER, *command], capture_output=True, text=True)
        rss_kb, wall_text, code = done.stdout.split()
        if done.returncode != 0 or code != "0":
            raise RuntimeError(f"ketasim trial failed ({code}):\n{done.stderr[-2000:]}")
        peak_mb, wall = int(rss_kb) / 1024.0, float(wall_text)  # Linux reports ru_maxrss in kB
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(out / "patients.parquet").metadata
    return Measurement(2 * per_arm, peak_mb, wall, meta.num_rows, meta.num_row_groups)


def main(argv: list[str] | None = None) -> int:
    """Measure every size, print one row each and the extrapolation to 1,000,000 patients."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10000,50000", help="total patients (both arms), comma-separated")
    ap.add_argument("--days", type=float, default=84.0, help="trial length in days (default 84)")
    ap.add_argument("--engine", default="fast", help="solver (default fast)")
    ap.add_argument("--chunk-size", type=int, default=None, help="patients per chunk (default: ketasim's own)")
    ap.add_argument("--tiny", action="store_true", help="10 and 20 patients, 7 days, chunks of 4 (a smoke test)")
    args = ap.parse_args(argv)
    sizes = sorted(int(s) for s in args.sizes.split(",") if s.strip())
    if args.tiny:
        sizes, args.days, args.chunk_size = [10, 20], 7.0, 4
    how = "/usr/bin/time -v" if Path(TIME_V).exists() else "getrusage(RUSAGE_CHILDREN)"
    rows = []
    with tempfile.TemporaryDirectory(prefix="ketasim-memory-") as tmp:
        trial = Path(tmp) / "trial.toml"
        trial.write_text(trial_toml(args.days))
        for total in sizes:
            out = Path(tmp) / f"out-{total}"
            started = time.perf_counter()
            rows.append(measure(trial, total, out, args.engine, args.chunk_size))
            json.loads((out / "summary.json").read_text())  # the run wrote its summary
            shutil.rmtree(out)
            print(f"  {total} patients done in {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    print(f"2 arms, {args.days:g} days, {args.engine} engine, --out (Parquet streamed); peak RSS from {how}")
    header = f"{'patients':>9} {'per arm':>8} {'peak RSS MB':>12} {'wall s':>8} {'patients/s':>11} {'rows':>9} {'row groups':>11}"
    print(header)
    print("-" * len(header))
    for m in rows:
        print(f"{m.total:>9} {m.total // 2:>8} {m.peak_mb:>12.0f} {m.wall_s:>8.1f} {m.per_s:>11.0f} "
              f"{m.rows:>9} {m.row_groups:>11}")
    if len(rows) >= 2:
        a, b = rows[-2], rows[-1]
        per_patient_s = (b.wall_s - a.wall_s) / (b.total - a.total)
        per_patient_mb = (b.peak_mb - a.peak_mb) / (b.total - a.total)
        print(f"peak RSS growth: {per_patient_mb * 1024:.2f} kB per patient "
              f"({b.peak_mb - a.peak_mb:+.0f} MB from {a.total} to {b.total} patients)")
        print(f"extrapolated to {EXTRAPOLATE_TO:,} patients: {b.wall_s + per_patient_s * (EXTRAPOLATE_TO - b.total):.0f} s, "
              f"peak RSS {b.peak_mb + per_patient_mb * (EXTRAPOLATE_TO - b.total):.0f} MB (linear in patients)")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

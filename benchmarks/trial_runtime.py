"""Wall time of a 2-arm trial of 2,000 patients per arm over 28 days (issue: under 2 minutes on 2 cores).

A benchmark, not a test: `python benchmarks/trial_runtime.py [--patients 2000] [--days 28] [--engine fast]`.
It also times the same trial at a tenth of the size in the same process, as a baseline, and
prints the ratio (cost per patient should stay flat).
"""

from __future__ import annotations

import argparse
import time

from ketasim.trials.trial import run_trial
from ketasim.trials.trial_spec import parse_trial


def trial(patients: int, days: int) -> object:
    data = {
        "name": "benchmark: ketamine vs saline, TRD", "seed": 1, "patients_per_arm": patients,
        "population": {"kind": "trd", "min_failed_treatments": 2, "baseline_madrs": [22, 60]},
        "arms": [{"name": "ketamine", "doses": [{"drug": "ketamine", "route": "iv", "amount": "0.5 mg/kg",
                                                 "infusion": "40 min", "at": ["0 d", "3 d", "7 d", "10 d"]}]},
                 {"name": "saline", "doses": [{"drug": "saline", "route": "iv", "amount": "0 mg",
                                               "infusion": "40 min", "at": ["0 d", "3 d", "7 d", "10 d"]}]}],
        "endpoints": {"visits": ["1 d", "7 d", "14 d", f"{days} d"], "response": "50%", "remission": 10,
                      "relapse": {"at": "14 d", "madrs_at_least": 22, "until": f"{days} d"}, "vitals": True},
    }
    return parse_trial(data, "benchmark.toml")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--engine", default="fast")
    args = parser.parse_args(argv)
    rows = []
    for n in (max(args.patients // 10, 1), args.patients):
        start = time.perf_counter()
        run_trial(trial(n, args.days), engine=args.engine, show_progress=False)
        rows.append((n, time.perf_counter() - start))
    print(f"{'patients/arm':>12s} {'seconds':>9s} {'patients/s':>11s}")
    for n, seconds in rows:
        print(f"{n:12d} {seconds:9.1f} {2 * n / seconds:11.1f}")
    (n0, s0), (n1, s1) = rows
    print(f"cost per patient, large / small run: {(s1 / n1) / (s0 / n0):.2f}")
    print(f"2-arm trial of {n1} patients per arm over {args.days} days: {s1:.1f} s (target < 120 s)")


if __name__ == "__main__":
    main()

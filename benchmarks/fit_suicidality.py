#!/usr/bin/env python3
"""Fit the suicidal-ideation parameters (model/suicidality.py) to the SI trial files, depression fixed.

    python benchmarks/fit_suicidality.py [PATIENTS_PER_ARM] [MAX_EVALUATIONS] [STAGE: 1, 2 or 3 (default)]

Canuso 2018 is left out of the fit: its targets are MADRS totals, which no SI parameter moves.
Prints the report; copy the fitted values into suicidality.PARAMETERS by hand.
"""

from __future__ import annotations

import sys
import time
from importlib import resources

from ketasim.trials.calibrate import calibrate, format_report

FILES = ("price-2014.toml", "grunebaum-2018.toml", "abbar-2022.toml")
#: stage 1 (done first, 150 patients per arm, 62 evaluations): the five mechanism parameters
STAGE_1 = (
    ("si_mood_weight", 0.05, 1.0),
    ("si_fast_gain_1_h", 0.02, 5.0),
    ("si_fast_time_d", 0.5, 5.0),  # Su 2023: SI benefit to about day 5
    ("si_care_relief_max", 0.05, 2.0),
    ("si_care_time_d", 0.3, 10.0),
)
#: stage 2 (from stage 1's values, with si_mood_weight 0.12 and si_fast_sd_log 1.3 set by hand to let
#: ketamine's SI response be all-or-none more often): the fast path, its spread, the mood share, care
STAGE_2 = (
    ("si_mood_weight", 0.02, 1.0),
    ("si_fast_gain_1_h", 0.02, 5.0),
    ("si_fast_time_d", 0.5, 5.0),
    ("si_fast_sd_log", 0.2, 2.5),
    ("si_care_relief_max", 0.05, 2.0),
)
#: stage 3 (from stage 2's values, 400 patients per arm: stage 2's rates sat near their tolerances)
FREE = (
    ("si_mood_weight", 0.02, 1.0),
    ("si_fast_gain_1_h", 0.02, 5.0),
    ("si_fast_sd_log", 0.2, 2.5),
    ("si_care_relief_max", 0.05, 2.0),
)


def main() -> None:
    patients = int(sys.argv[1]) if len(sys.argv) > 1 else 150
    evaluations = int(sys.argv[2]) if len(sys.argv) > 2 else 60
    stage = sys.argv[3] if len(sys.argv) > 3 else "3"
    free = {"1": STAGE_1, "2": STAGE_2, "3": FREE}[stage]
    folder = resources.files("ketasim") / "data" / "calibration"
    paths = [str(folder / name) for name in FILES]
    started = time.time()
    report = calibrate(paths, free=free, patients_per_arm=patients, max_evaluations=evaluations, sensitivity=False)
    print(format_report(report))
    print(f"{report.evaluations} evaluations, {time.time() - started:.0f} s, {patients} patients per arm")


if __name__ == "__main__":
    main()

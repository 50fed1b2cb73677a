"""Which path of the model carries a trial's drug-minus-control difference? Each arm's mean MADRS change at each
visit with the shipped calibration and with one path cut at a time (a diagnostic, not a benchmark: no timing).

    python benchmarks/path_decomposition.py TRIAL.toml [--patients-per-arm 400] [--visits "1 d" "28 d"]

Paths cut (mechanism parameters set to 0; every patient, every arm):
- perceived-effect expectancy: `perceived_expectancy_rate_1_h` (felt effects, dissociation or a spray's cue,
  lift expectancy);
- all session expectancy: the above and `session_expectancy`, `placebo_spray_cue`;
- trial contact: `contact_improvement_max` (non-specific improvement from care over weeks);
- fast plasticity: `synaptogenesis_rate_1_h` and `acute_relief_max` (ketamine's own path: new spines and the
  acute neurotrophic relief).
The first two arms of the file are compared (first minus second), as in `validate`'s drug-minus-control table.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import ketasim as ks
from ketasim.trials.calibrate import shipped_values, split_values
from ketasim.trials.trial import run_trial

CUTS: dict[str, dict[str, float]] = {
    "shipped model": {},
    "no perceived-effect expectancy": {"perceived_expectancy_rate_1_h": 0.0},
    "no session expectancy at all": {"perceived_expectancy_rate_1_h": 0.0, "session_expectancy": 0.0,
                                     "placebo_spray_cue": 0.0},
    "no trial-contact improvement": {"contact_improvement_max": 0.0},
    "no fast plasticity": {"synaptogenesis_rate_1_h": 0.0, "acute_relief_max": 0.0},
}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trial", type=Path)
    parser.add_argument("--patients-per-arm", type=int, default=400)
    parser.add_argument("--visits", nargs="*", help="visit keys of the file (default: all)")
    args = parser.parse_args(argv)
    spec = ks.load_trial(args.trial)
    if len(spec.arms) < 2:
        print(f"{args.trial}: needs two arms (drug and control)", file=sys.stderr)
        return 2
    params, pop = split_values(shipped_values())
    first, second = spec.arms[0].name, spec.arms[1].name
    print(f"{spec.name}: mean MADRS change (points), {first} / {second}, and their difference; "
          f"{args.patients_per_arm} patients per arm, fast engine")
    for name, cut in CUTS.items():
        result = run_trial(spec, patients_per_arm=args.patients_per_arm, params={**params, **cut}, pop=pop,
                           show_progress=False, keep_patients=False)
        visits = result.arms[first].summary["visits"]
        keys = args.visits or list(visits)
        cells = []
        for visit in keys:
            a = result.arms[first].summary["visits"][visit]["change_mean"]
            b = result.arms[second].summary["visits"][visit]["change_mean"]
            cells.append(f"{visit}: {a:6.1f} / {b:6.1f}  diff {a - b:5.1f}")
        print(f"{name:32s} " + " | ".join(cells), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

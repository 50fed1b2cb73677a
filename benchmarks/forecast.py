"""Wall time of `ketasim forecast` for one patient with four observations (issue 13: under 60 s on 2 cores).

A benchmark, not a test: `python benchmarks/forecast.py [--draws 4000] [--repeat 1]`. The patient is
the issue's example (TRD, escitalopram background, six ketamine infusions) with a fourth MADRS
observation at day 4; the plan has four candidate intervals over an 8-week horizon. Prints the
wall time of the posterior and of the whole forecast (after a baseline with a quarter of the draws,
and the ratio of the posterior's cost per draw), the CPU time (less sensitive to other jobs
on a shared machine), and the posterior's ESS.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

PATIENT = """\
[patient]
weight_kg = 80
age = 45
sex = "female"
failed_treatments = 3
background = [ { drug = "escitalopram", route = "oral", amount = "20 mg", every = "1 d" } ]
doses = [ { drug = "ketamine", route = "iv", amount = "0.5 mg/kg", infusion = "40 min",
            at = ["0 d", "2 d", "4 d", "7 d", "9 d", "11 d"] } ]
observations = [ { at = "0 d", madrs = 34 }, { at = "1 d", madrs = 22 }, { at = "4 d", madrs = 20 },
                 { at = "7 d", madrs = 17 } ]

[plan]
horizon = "8 wk"
relapse_madrs = 22
acceptable_risk = 0.2
maintenance = { drug = "ketamine", route = "iv", amount = "0.5 mg/kg", infusion = "40 min" }
intervals = ["1 wk", "2 wk", "3 wk", "4 wk"]
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--draws", type=int, default=4000)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    import ketasim as ks

    print(f"import ketasim: {time.perf_counter() - start:.1f} s")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "patient.toml"
        path.write_text(PATIENT)
        posterior_times = []
        # a baseline first, in the same process: the same forecast with a quarter of the draws
        for run, draws in enumerate([max(args.draws // 4, 300)] + [args.draws] * args.repeat):
            marks: dict[str, float] = {}
            cpu = time.process_time()
            start = time.perf_counter()

            def progress(message: str, start: float = start, marks: dict[str, float] = marks) -> None:
                if message.startswith("forecast 1/"):
                    marks["posterior"] = time.perf_counter() - start

            result = ks.forecast(path, draws=draws, seed=run, progress=progress)
            total = time.perf_counter() - start
            cpu = time.process_time() - cpu
            posterior_times.append(marks.get("posterior", float("nan")) / draws)
            name = "baseline" if run == 0 else f"run {run}"
            print(f"{name}: posterior {marks.get('posterior', float('nan')):.1f} s, whole forecast {total:.1f} s "
                  f"(target < 60 s; CPU time {cpu:.1f} s); {draws} draws, ESS {result.posterior['ess']:.0f}, "
                  f"Pareto k-hat {result.posterior['pareto_khat']:.2f}; recommended: {result.recommended_interval}")
        print(f"posterior cost per draw, full / baseline: {posterior_times[-1] / posterior_times[0]:.2f}")


if __name__ == "__main__":
    main()

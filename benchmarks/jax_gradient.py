"""Seconds for one arm's smoothed endpoints with their gradient (forward mode, JAX) against the values alone.

Both paths are `trials.gradient.arm_endpoint_gradient` on the same arm and patients: with no parameter names
it solves with `engines.jax_engine.solve_fast_jax` (the value alone), with k names with
`solve_fast_jax_tangents` (value and k derivatives in one loop). The first call of each compiles (reported
apart, once per arm shape); the rest alternate `--repeats` times and the medians are compared, for the whole
call (screening included, the same in both) and for the trial solve alone (`jax_engine.last_timing`). The
last line compares with central finite differences, which need 2k evaluations of the value.

    python benchmarks/jax_gradient.py [--file murrough-2013-ajp.toml] [--arm 0] [--patients 100] [--repeats 3]
                                      [--names a,b,...] [--exact] [--device cpu]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from ketasim.engines import jax_engine
from ketasim.engines.solvers import SolverSettings
from ketasim.model.arm import DEFAULT_PARAMETERS
from ketasim.trials.calibrate import FREE_PARAMETERS
from ketasim.trials.calibration_set import FIT_SETTINGS
from ketasim.trials.gradient import GRADIENT_METRICS, EndpointGradient, arm_endpoint_gradient
from ketasim.trials.trial_spec import load_trial
from ketasim.trials.validate import shipped_calibration_dir


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--file", default="murrough-2013-ajp.toml", help="a file of data/calibration, or a path")
    parser.add_argument("--arm", type=int, default=0)
    parser.add_argument("--patients", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--names", default=",".join(n for n, _, _ in FREE_PARAMETERS if n in DEFAULT_PARAMETERS),
                        help="mechanism parameters, comma-separated (default: those of FREE_PARAMETERS)")
    parser.add_argument("--exact", action="store_true", help="default tolerances and daily outputs (else the fit's)")
    parser.add_argument("--device", default="cpu", choices=("cpu", "gpu", "auto"))
    args = parser.parse_args(argv)
    path = shipped_calibration_dir() / args.file
    spec = load_trial(path if path.exists() else args.file)
    names = tuple(n for n in args.names.split(",") if n)
    settings, daily = (SolverSettings(), True) if args.exact else (FIT_SETTINGS, False)

    def run(with_names: tuple[str, ...]) -> tuple[float, float, EndpointGradient]:
        start = time.perf_counter()
        result = arm_endpoint_gradient(spec, args.arm, args.patients, with_names, settings=settings, daily=daily,
                                       device=args.device)
        return time.perf_counter() - start, float(jax_engine.last_timing.get("run_s", float("nan"))), result

    print(f"{spec.name}, arm {spec.arms[args.arm].name!r}, {args.patients} patients, k = {len(names)}: {', '.join(names)}")
    print(f"settings rtol={settings.rtol:g} atol={settings.atol:g}, daily={daily}, device {args.device}")
    first_value, _, value = run(())
    first_gradient, _, gradient = run(names)
    times: dict[str, list[tuple[float, float]]] = {"value": [], "gradient": []}
    for _ in range(args.repeats):
        total, solve, value = run(())
        times["value"].append((total, solve))
        total, solve, gradient = run(names)
        times["gradient"].append((total, solve))
    med = {key: (statistics.median(t for t, _ in rows), statistics.median(s for _, s in rows)) for key, rows in times.items()}
    print(f"value alone:           {med['value'][0]:8.3f} s per call, trial solve {med['value'][1]:.3f} s "
          f"(first call, compiling: {first_value:.1f} s)")
    print(f"value + gradient (k={len(names)}): {med['gradient'][0]:8.3f} s per call, trial solve {med['gradient'][1]:.3f} s "
          f"(first call, compiling: {first_gradient:.1f} s)")
    print(f"ratio value+gradient / value: {med['gradient'][0] / med['value'][0]:.2f}x per call, "
          f"{med['gradient'][1] / med['value'][1]:.2f}x trial solve")
    same = max(float(np.max(np.abs(gradient.values[m] - value.values[m]))) for m in GRADIENT_METRICS)
    print(f"largest difference of the values between the two paths: {same:.2e}")
    print(f"central differences would need {2 * len(names)} value calls: {2 * len(names) * med['value'][0]:.3f} s "
          f"({2 * len(names) * med['value'][0] / med['gradient'][0]:.1f}x the gradient call)")


if __name__ == "__main__":
    main()

"""Seconds per evaluation of the calibration set: the current path and the prepared one, in one process.

The current path is what `trials.calibrate` did before: run_trial on every file, one after the other.
The new paths are `trials.calibration_set.CalibrationSet`:

- exact: every arm of every file in one batched solve (run-ins round by round), in this process;
  same method, so every target must equal the current path's exactly;
- fit: what `ketasim calibrate` evaluates while fitting: daily=False, FIT_SETTINGS and `--workers`
  processes; a different method, so every target must stay within its 95% sampling interval of the
  current path's value (the table gives |fit - current| over the interval's half-width).

- jax (with --jax): the fit path with the compiled engine (`engines.jax_batch`) in this process; its
  first evaluation compiles the loops (reported apart: it happens once per calibration) and is not timed.

The paths alternate `--repeats` times (same process, same files); the medians are compared. The
last line reads `speedup N.Nx` (the fit path against the current path).

    python benchmarks/calibration_eval.py [--patients-per-arm 150] [--repeats 1] [--workers 2] [--tiny] [--jax]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from ketasim.trials.calibrate import _split, shipped_values
from ketasim.trials.calibration_set import FIT_SETTINGS, CalibrationSet
from ketasim.trials.trial import run_trial
from ketasim.trials.trial_spec import load_trial
from ketasim.trials.validate import TargetCheck, check_targets, shipped_calibration_dir, trial_files

TINY_FILES = ("murrough-2013-ajp.toml", "singh-2016.toml", "vitals-and-dissociation.toml")


def _timed(function: Callable[[], list[TargetCheck]]) -> tuple[float, list[TargetCheck]]:
    start = time.perf_counter()
    checks = function()
    return time.perf_counter() - start, checks


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients-per-arm", type=int, default=150)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2, help="processes of the fit path (default 2)")
    parser.add_argument("--tiny", action="store_true", help="3 files at 10 patients per arm (a smoke test)")
    parser.add_argument("--jax", action="store_true", help="also time the fit path with the JAX engine (one process)")
    args = parser.parse_args(argv)
    n = 10 if args.tiny else args.patients_per_arm
    files = trial_files([shipped_calibration_dir()])
    if args.tiny:
        files = [f for f in files if f.name in TINY_FILES]
    model, pop = _split(shipped_values())
    specs = [(path.name, load_trial(path)) for path in files]

    def current() -> list[TargetCheck]:
        out: list[TargetCheck] = []
        for label, spec in specs:
            result = run_trial(spec, patients_per_arm=n, params=model, pop=pop, show_progress=False, keep_patients=False)
            out += check_targets(spec, result, label)
        return out

    start = time.perf_counter()
    exact_set = CalibrationSet(specs, n)
    fit_set = CalibrationSet(specs, n, FIT_SETTINGS, daily=False, workers=args.workers)
    setup_s = time.perf_counter() - start
    times: dict[str, list[float]] = {"current": [], "exact": [], "fit": [], "jax": []}
    results: dict[str, list[TargetCheck]] = {}
    paths: list[tuple[str, Callable[[], list[TargetCheck]]]] = [
        ("current", current), ("exact", lambda: exact_set.checks(model, pop)), ("fit", lambda: fit_set.checks(model, pop))]
    compile_s = 0.0
    if args.jax:
        from ketasim.engines import jax_batch

        jax_set = CalibrationSet(specs, n, FIT_SETTINGS, daily=False, engine="jax")
        first_s, _ = _timed(lambda: jax_set.checks(model, pop))  # compiles the loops (once per calibration)
        compile_s = first_s
        paths.append(("jax", lambda: jax_set.checks(model, pop)))
    try:
        for _ in range(max(args.repeats, 1)):
            for name, run in paths:
                seconds, checks = _timed(run)
                times[name].append(seconds)
                if name in results and checks != results[name]:
                    raise SystemExit(f"{name}: a repeated evaluation gave other targets")
                results[name] = checks
    finally:
        fit_set.close()
    cur, exact, fit = results["current"], results["exact"], results["fit"]
    print(f"calibration set: {len(files)} files, {len(cur)} targets, {n} patients per arm; "
          f"{args.repeats} repeat(s), medians")
    print(f"{'target':62s} {'current':>9s} {'exact':>9s} {'fit':>9s} {'|ex-cur|':>9s} {'|fit-cur|':>9s} "
          f"{'CI half':>8s} {'ratio':>6s}")
    worst_exact, worst_ratio = 0.0, 0.0
    for c, e, f in zip(cur, exact, fit, strict=True):
        label = f"{c.file}: {c.arm_label} {c.visit or ''} {c.metric}"
        if c.simulated is None or e.simulated is None or f.simulated is None:
            print(f"{label[:62]:62s} (no value: current {c.simulated}, exact {e.simulated}, fit {f.simulated})")
            worst_exact = max(worst_exact, 0.0 if c.simulated == e.simulated else float("inf"))
            continue
        d_exact, d_fit = abs(e.simulated - c.simulated), abs(f.simulated - c.simulated)
        half = None if c.simulated_ci is None else (c.simulated_ci[1] - c.simulated_ci[0]) / 2
        ratio = None if not half else d_fit / half
        worst_exact = max(worst_exact, d_exact)
        worst_ratio = max(worst_ratio, ratio or 0.0)
        print(f"{label[:62]:62s} {c.simulated:9.4g} {e.simulated:9.4g} {f.simulated:9.4g} {d_exact:9.2g} {d_fit:9.2g} "
              f"{'-' if half is None else f'{half:8.3g}':>8s} {'-' if ratio is None else f'{ratio:6.3f}':>6s}")
    identical = all(c == e for c, e in zip(cur, exact, strict=True))
    print(f"exact path: every target identical to the current path: {'yes' if identical else 'NO'} "
          f"(largest difference {worst_exact:.3g})")
    print(f"fit path: largest |fit - current| / 95% sampling half-width: {worst_ratio:.4f} "
          f"({'within' if worst_ratio <= 1.0 else 'OUTSIDE'} every interval)")
    if args.jax:
        worst_jax = max((abs(j.simulated - c.simulated) / ((c.simulated_ci[1] - c.simulated_ci[0]) / 2)
                         for c, j in zip(cur, results["jax"], strict=True)
                         if c.simulated is not None and j.simulated is not None and c.simulated_ci is not None
                         and c.simulated_ci[1] > c.simulated_ci[0]), default=0.0)
        worst_vs_fit = max((abs(j.simulated - f.simulated) for f, j in zip(fit, results["jax"], strict=True)
                            if f.simulated is not None and j.simulated is not None), default=0.0)
        print(f"jax path: largest |jax - current| / 95% sampling half-width: {worst_jax:.4f}; largest |jax - fit| "
              f"(same method, round-off): {worst_vs_fit:.3g}")
    med = {k: statistics.median(v) for k, v in times.items() if v}
    print(f"setup (load files, prepare, start {args.workers} worker(s)): {setup_s:.2f} s, once per calibration")
    print(f"current path: {med['current']:.2f} s per evaluation ({', '.join(f'{t:.2f}' for t in times['current'])})")
    print(f"exact path (1 process): {med['exact']:.2f} s per evaluation ({', '.join(f'{t:.2f}' for t in times['exact'])}), "
          f"speedup {med['current'] / med['exact']:.1f}x")
    print(f"fit path ({args.workers} worker(s)): {med['fit']:.2f} s per evaluation "
          f"({', '.join(f'{t:.2f}' for t in times['fit'])})")
    if args.jax:
        print(f"jax path (1 process): {med['jax']:.2f} s per evaluation ({', '.join(f'{t:.2f}' for t in times['jax'])}), "
              f"speedup {med['current'] / med['jax']:.1f}x; first evaluation with compiling {compile_s:.2f} s "
              f"({jax_batch.last_timing.get('loops')})")
    print(f"speedup {med['current'] / med['fit']:.1f}x")


if __name__ == "__main__":
    main()

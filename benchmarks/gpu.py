"""Throughput of the JAX engine (GPU when JAX sees one) on a 2-arm, 12-week trial, with a numpy baseline.

    python benchmarks/gpu.py [--sizes 10000,100000,1000000] [--chunk 100000] [--tiny]

Arm A: ketamine 0.5 mg/kg over 40 min twice weekly for 4 weeks (8 infusions) + escitalopram
10 mg daily; arm B: saline infusions on the same days + escitalopram. Outputs at weekly visits
only. Patients come from ketasim's population draw (seed 1, arm 0 / 1). For each size: compile
seconds (first call of each new chunk shape), model-building seconds (numpy, closed-form PK),
solve seconds and patients per second of solving; at the smallest size also the numpy `fast`
engine in the same process, and the speedup (numpy solve s / jax solve s). `--tiny` (50 patients, 7 days) runs on a CPU in
seconds.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ketasim import Regimen, dose
from ketasim.engines.solvers import Solution, SolverSettings, solve_fast
from ketasim.model.arm import ArmModel, initial_state, model_values
from ketasim.trials.population import PopulationSettings, draw_candidates, population_values, take

INFUSION_DAYS = ("0 d", "3 d", "7 d", "10 d", "14 d", "17 d", "21 d", "24 d")
SEED = 1


def arms() -> dict[str, Regimen]:
    """The two arms: ketamine or saline infusions, both with daily escitalopram."""
    ssri = dose("escitalopram", "oral", "10 mg", every="1 d")
    return {
        "ketamine": Regimen.of(dose("ketamine", "iv", "0.5 mg/kg", infusion="40 min", at=list(INFUSION_DAYS)), ssri),
        "saline": Regimen.of(dose("saline", "iv", "0 mg", infusion="40 min", at=list(INFUSION_DAYS)), ssri),
    }


@dataclass
class Run:
    """Seconds spent on one engine at one size (both arms, all chunks)."""

    engine: str
    device: str
    n: int
    build_s: float = 0.0
    compile_s: float = 0.0
    solve_s: float = 0.0
    failed: int = 0

    @property
    def per_s(self) -> float:
        return 2 * self.n / self.solve_s if self.solve_s > 0 else float("nan")


Solver = Callable[[ArmModel, np.ndarray, np.ndarray], Solution]


def run(engine: str, n: int, days: float, chunk: int, settings: SolverSettings) -> Run:
    """Both arms of n patients each, in chunks, with `engine` ("jax" on device auto, or "fast")."""
    if engine == "jax":
        from ketasim.engines import jax_engine as _engine_jax

        device = str(_engine_jax.pick_device("auto"))
    else:
        device = "numpy"
    result = Run(engine, device, n)
    end = days * 24.0
    times = np.arange(0.0, end + 1e-9, 7 * 24.0)
    if times[-1] < end:
        times = np.append(times, end)
    params, pop = model_values(), population_values()
    for arm_index, regimen in enumerate(arms().values()):
        patients = draw_candidates(SEED, arm_index, np.arange(n), pop, PopulationSettings())
        for lo in range(0, n, chunk):
            part = take(patients, slice(lo, lo + chunk))
            start = time.perf_counter()
            model = ArmModel(regimen, part, params, 0.0, end)
            y0 = initial_state(part)
            result.build_s += time.perf_counter() - start
            start = time.perf_counter()
            if engine == "jax":
                sol = _engine_jax.solve_fast_jax(model, times, y0, settings, device="auto", pad_to=chunk)
                result.compile_s += _engine_jax.last_timing["compile_s"]
                result.solve_s += time.perf_counter() - start - _engine_jax.last_timing["compile_s"]
            else:
                sol = solve_fast(model, times, y0, settings)
                result.solve_s += time.perf_counter() - start
            result.failed += int(np.count_nonzero(sol.status))
    return result


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print one table row per engine and size."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10000,100000,1000000", help="patients per arm, comma-separated")
    ap.add_argument("--chunk", type=int, default=None, help="patients per chunk (default 100000 on GPU, 10000 on CPU)")
    ap.add_argument("--days", type=float, default=84.0, help="trial length in days (default 84)")
    ap.add_argument("--tiny", action="store_true", help="50 patients, 7 days, chunks of 25 (a CPU smoke run)")
    args = ap.parse_args(argv)
    from ketasim.engines import jax_engine as _engine_jax

    on_gpu = _engine_jax.pick_device("auto").platform != "cpu"
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    days, chunk = args.days, args.chunk or (100_000 if on_gpu else 10_000)
    if args.tiny:
        sizes, days, chunk = [50], 7.0, 25
    settings = SolverSettings()
    rows = []
    for i, n in enumerate(sorted(sizes)):
        jax_run = run("jax", n, days, min(chunk, n), settings)
        rows.append((jax_run, None))
        if i == 0:
            base = run("fast", n, days, min(chunk, n), settings)
            rows.append((base, base.solve_s / jax_run.solve_s))
    print(f"2 arms x N patients, {days:g} days, weekly visits, chunk {chunk}")
    header = f"{'N/arm':>9} {'engine':>6} {'device':>8} {'build_s':>8} {'compile_s':>9} {'solve_s':>9} {'patients/s':>11} " \
             f"{'failed':>6} {'speedup':>9}"
    print(header)
    print("-" * len(header))
    for r, ratio in rows:
        print(f"{r.n:>9} {r.engine:>6} {r.device:>8} {r.build_s:>8.2f} {r.compile_s:>9.2f} {r.solve_s:>9.2f} "
              f"{r.per_s:>11.0f} {r.failed:>6} {'' if ratio is None else f'{ratio:.2f}x':>9}")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

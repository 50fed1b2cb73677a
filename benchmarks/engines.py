"""Patients per second of ketasim's engines and of libRoadRunner on the exported SBML, on one trial.

A benchmark, not a test: ``python benchmarks/engines.py [--sizes 1000,10000] [--days 84] [--tiny]``.

The trial: 2 arms over `days` days, MADRS at visits only (days 0, 1, 7, 14, 21, 28, 42, 56, 70, 84
up to `days`), all patients drawn with `draw_candidates` (no screening). Arm A: ketamine
0.5 mg/kg over 40 min twice weekly for 4 weeks (8 infusions) + escitalopram 10 mg daily; arm B:
saline on the same days + escitalopram. Everything runs in this one process.

- fast: `solve_fast` on every patient, in chunks of at most 10,000 (model build and outputs included).
- reference: `solve_reference` (LSODA, patient by patient) on a subset; patients/s scaled to N.
- roadrunner: one SBML per arm (`export_sbml` for the arm's first patient) loaded once ("build":
  export + load, with LLVM compilation); then per patient: its patient-specific parameters
  (rate constants, plasma factors, dose amounts, Patient fields; `patient_parameter_values`)
  set with `setValue`, `reset`, `simulate` at the visits. Run on a subset and extrapolated:
  time(N) = build + N x (per-patient time). Also timed: re-exporting and re-loading the SBML for
  each patient (a few patients), the alternative when parameters are baked in.

All engines use rtol 1e-6, atol 1e-8 (ketasim's defaults; CVODE with a vector of absolute
tolerances). SBML output at a dose time is the value after the dose, ketasim's the value before
it, so roadrunner is sampled 1e-7 h before each visit.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import numpy as np

from ketasim.engines.solvers import SolverSettings, solve_fast, solve_reference
from ketasim.interchange.sbml import export_sbml, patient_parameter_values
from ketasim.model.arm import ArmModel, initial_state, model_values
from ketasim.model.patient import PATIENT_FIELDS, Patient
from ketasim.model.regimen import Regimen, dose
from ketasim.trials.population import PopulationSettings, draw_candidates, population_values, take

SETTINGS = SolverSettings(rtol=1e-6, atol=1e-8)
VISIT_DAYS = (0, 1, 7, 14, 21, 28, 42, 56, 70, 84)
INFUSION_DAYS = ["0 d", "3 d", "7 d", "10 d", "14 d", "17 d", "21 d", "24 d"]
CHUNK = 10_000
BEFORE_VISIT_H = 1e-7


def arms() -> dict[str, Regimen]:
    """The two arms (ketamine or saline twice weekly for 4 weeks, both with daily escitalopram)."""
    ssri = dose("escitalopram", "oral", "10 mg", every="1 d")
    return {
        "ketamine + escitalopram": Regimen.of(
            dose("ketamine", "iv", "0.5 mg/kg", infusion="40 min", at=INFUSION_DAYS), ssri, name="ketamine"),
        "saline + escitalopram": Regimen.of(
            dose("saline", "iv", "0 mg", infusion="40 min", at=INFUSION_DAYS), ssri, name="saline"),
    }


def patients(arm: int, n: int) -> dict[str, np.ndarray]:
    """Candidates 0..n-1 of one arm (seed 1), unscreened."""
    return draw_candidates(1, arm, np.arange(n), population_values(), PopulationSettings())


def run_ketasim(engine: str, regimen: Regimen, pat: dict[str, np.ndarray], visits_h: np.ndarray,
                end_h: float) -> np.ndarray:
    """MADRS (V, N) at the visits with a ketasim engine, in chunks of at most CHUNK patients."""
    solver = {"fast": solve_fast, "reference": solve_reference}[engine]
    n = len(pat["weight_kg"])
    out = []
    for start in range(0, n, CHUNK):
        part = take(pat, slice(start, start + CHUNK))
        model = ArmModel(regimen, part, model_values(), 0.0, end_h)
        sol = solver(model, visits_h, initial_state(part), SETTINGS)
        out.append(model.outputs(visits_h, sol.states)["madrs"])
    return np.concatenate(out, axis=1)


def _runner(sbml: str) -> object:
    import roadrunner

    rr = roadrunner.RoadRunner(sbml)
    rr.integrator.relative_tolerance = SETTINGS.rtol
    rr.integrator.absolute_tolerance = [SETTINGS.atol] * len(rr.integrator.getAbsoluteToleranceVector())
    rr.integrator.maximum_num_steps = 100_000
    return rr


@dataclass
class RoadRunnerTiming:
    build_s: float  # export + load, once per arm
    per_patient_s: float  # PK numbers + setValue + reset + simulate
    simulate_per_patient_s: float  # of which simulate
    reexport_per_patient_s: float  # export + load + simulate, per patient
    madrs: np.ndarray  # (V, n) at the visits


def run_roadrunner(regimen: Regimen, pat: dict[str, np.ndarray], visits_h: np.ndarray, end_h: float,
                   reexport: int) -> RoadRunnerTiming:
    """libRoadRunner on every patient of `pat` through one loaded model; `reexport` patients also re-exported."""
    n = len(pat["weight_kg"])
    days = end_h / 24.0
    first = Patient(**{k: float(pat[k][0]) for k in PATIENT_FIELDS})
    times = np.concatenate([[0.0], visits_h[1:] - BEFORE_VISIT_H])
    start = time.perf_counter()
    rr = _runner(export_sbml(regimen, first, days))
    build = time.perf_counter() - start
    inputs = [i for i in rr.model.getGlobalParameterIds() if i.startswith("u_")]
    madrs = np.empty((len(times), n))
    simulating = 0.0
    start = time.perf_counter()
    model = ArmModel(regimen, pat, model_values(), 0.0, end_h)  # the patients' PK numbers
    for i in range(n):
        values = patient_parameter_values(model, i)
        rr.setValues(list(values), list(values.values()))
        for u in inputs:
            rr.setValue(u, 0.0)
        rr.reset()
        tick = time.perf_counter()
        madrs[:, i] = rr.simulate(times=times, selections=["madrs"])[:, 0]
        simulating += time.perf_counter() - tick
    per_patient = (time.perf_counter() - start) / n
    start = time.perf_counter()
    for i in range(1, reexport + 1):  # not patient 0: roadrunner would reuse its compiled model
        other = Patient(**{k: float(pat[k][i % n]) for k in PATIENT_FIELDS})
        _runner(export_sbml(regimen, other, days)).simulate(times=times, selections=["madrs"])
    reexport_s = (time.perf_counter() - start) / max(reexport, 1)
    return RoadRunnerTiming(build, per_patient, simulating / n, reexport_s, madrs)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000", help="patients per arm, comma-separated (default 1000,10000)")
    parser.add_argument("--days", type=float, default=84.0, help="trial length in days (default 84)")
    parser.add_argument("--reference-patients", type=int, default=50, help="subset for the reference engine")
    parser.add_argument("--roadrunner-patients", type=int, default=200, help="subset for libRoadRunner")
    parser.add_argument("--reexport-patients", type=int, default=5, help="patients re-exported one by one")
    parser.add_argument("--tiny", action="store_true", help="20 patients, 7 days, small subsets (a smoke test)")
    args = parser.parse_args(argv)
    if args.tiny:
        args.sizes, args.days = "20", 7.0
        args.reference_patients, args.roadrunner_patients, args.reexport_patients = 5, 5, 1
    import roadrunner

    roadrunner.Logger.setLevel(roadrunner.Logger.LOG_ERROR)
    sizes = sorted(int(s) for s in args.sizes.split(","))
    end_h = args.days * 24.0
    visits_h = np.array([d * 24.0 for d in VISIT_DAYS if d <= args.days])
    n_ref = min(args.reference_patients, max(sizes))
    n_rr = min(args.roadrunner_patients, max(sizes))
    # per engine: total seconds per arm for each size
    seconds: dict[str, dict[int, float]] = {"fast": {}, "reference": {}, "roadrunner": {}, "roadrunner re-export": {}}
    diffs: dict[str, float] = {}
    for a, (label, regimen) in enumerate(arms().items()):
        print(f"arm {label}: {len(regimen.events(end_h))} doses in {args.days:g} d, {len(visits_h)} visits", flush=True)
        everyone = patients(a, max(sizes))
        start = time.perf_counter()
        ref = run_ketasim("reference", regimen, take(everyone, slice(0, n_ref)), visits_h, end_h)
        per_ref = (time.perf_counter() - start) / n_ref
        rr = run_roadrunner(regimen, take(everyone, slice(0, n_rr)), visits_h, end_h, args.reexport_patients)
        for n in sizes:
            start = time.perf_counter()
            fast = run_ketasim("fast", regimen, take(everyone, slice(0, n)), visits_h, end_h)
            seconds["fast"][n] = seconds["fast"].get(n, 0.0) + time.perf_counter() - start
            seconds["reference"][n] = seconds["reference"].get(n, 0.0) + per_ref * n
            seconds["roadrunner"][n] = seconds["roadrunner"].get(n, 0.0) + rr.build_s + rr.per_patient_s * n
            seconds["roadrunner re-export"][n] = seconds["roadrunner re-export"].get(n, 0.0) + \
                rr.reexport_per_patient_s * n
        m = min(n_ref, n_rr)
        later = slice(1, None)  # day 0: before any dose in ketasim, after the first in SBML
        diffs[f"fast vs reference, {label}"] = float(np.max(np.abs(fast[later, :n_ref] - ref[later])))
        diffs[f"roadrunner vs reference, {label}"] = float(np.max(np.abs(rr.madrs[later, :m] - ref[later, :m])))
        print(f"  reference: {n_ref} patients, {per_ref * 1e3:.1f} ms each; roadrunner: build {rr.build_s:.2f} s, "
              f"{rr.per_patient_s * 1e3:.1f} ms per patient ({n_rr} patients; simulate "
              f"{rr.simulate_per_patient_s * 1e3:.1f} ms of it), re-export + load + simulate "
              f"{rr.reexport_per_patient_s * 1e3:.0f} ms per patient ({args.reexport_patients})", flush=True)

    measured = {"fast": "all patients", "reference": f"{n_ref}/arm, scaled",
                "roadrunner": f"{n_rr}/arm, scaled", "roadrunner re-export": f"{args.reexport_patients}/arm, scaled"}
    print()
    print(f"patients/s over both arms ({args.days:g} d, visits only; reference and roadrunner extrapolated from subsets)")
    header = f"{'engine':22s} {'measured':22s}" + "".join(f" {f'N={n}/arm':>12s}" for n in sizes)
    print(header)
    rate = {e: {n: 2 * n / s[n] for n in sizes} for e, s in seconds.items()}
    for engine, by_n in rate.items():
        print(f"{engine:22s} {measured[engine]:22s}" + "".join(f" {by_n[n]:12.1f}" for n in sizes))
    for other in ("roadrunner", "reference"):
        print(f"{'fast / ' + other:22s} {'':22s}" + "".join(f" {rate['fast'][n] / rate[other][n]:12.1f}" for n in sizes))
    print("largest MADRS difference at visits after day 0 (points):")
    for what, value in diffs.items():
        print(f"  {what}: {value:.2e}")


if __name__ == "__main__":
    main()

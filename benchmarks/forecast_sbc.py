"""Simulation-based calibration of the whole `ketasim forecast` pipeline (heavy: about 2-3 s per patient).

Not a test (CI runs it only at a tiny size): `python benchmarks/forecast_sbc.py [--patients 200] [--draws 4000]`.
Synthetic patients are drawn and screened by the population's own sampler (TRD, two failed
courses, 80 kg), given one ketamine infusion, observed with the model's visit noise at 0, 1, 3
and 7 days, and forecast by `planner.run_forecast` exactly as the command does (adaptive
posterior, resampling, bands). Prints how often a new observed score at 21 and 28 days lies in
the 90% and 50% bands (targets 85-95% and 45-55%), and the median ESS.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=200)
    parser.add_argument("--draws", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=99)
    args = parser.parse_args(argv)
    import ketasim as ks
    from ketasim.forecast import simulator as sim
    from ketasim.forecast.patient_file import Observation, PatientRecord, Plan
    from ketasim.forecast.planner import run_forecast

    regimen = ks.Regimen.of(ks.dose("ketamine", "iv", "0.5 mg/kg", infusion="40 min", at="0 d"))
    covariates = sim.Covariates(80.0)
    obs_days, future_days = np.array([0.0, 1.0, 3.0, 7.0]), np.array([21.0, 28.0])
    times = 24.0 * np.concatenate([obs_days, future_days])
    truths = sim.population_draws(args.seed, args.patients, covariates, 2)
    start, _ = sim.initial_states(truths, None)
    out, _ = sim.simulate_draws(regimen, truths, times, start=start)
    sd = sim.visit_noise_sd()
    observed = np.clip(out["madrs"] + sim.noise(args.seed, "visits", np.arange(args.patients), times, sd), 0.0, 60.0)
    future = np.clip(out["madrs"] + sim.noise(args.seed, "future", np.arange(args.patients), times, sd), 0.0, 60.0)
    plan = Plan(horizon_h=21 * 24.0, intervals_h=())
    inside90, inside50, ess = [], [], []
    clock = time.perf_counter()
    for p in range(args.patients):
        record = PatientRecord("synthetic", covariates, 2, None, regimen,
                               tuple(Observation(24.0 * d, "madrs", float(observed[i, p])) for i, d in enumerate(obs_days)))
        result = run_forecast(record, plan, draws=args.draws, seed=p)
        ess.append(result.posterior["ess"])
        table = result.forecast.set_index("time_h")
        for j, day in enumerate(future_days):
            row = table.loc[24.0 * day]
            y = future[obs_days.size + j, p]
            inside90.append(row.madrs_p05 <= y <= row.madrs_p95)
            inside50.append(row.madrs_p25 <= y <= row.madrs_p75)
    seconds = time.perf_counter() - clock
    print(f"{args.patients} patients x {future_days.size} times, {args.draws} draws each ({seconds / args.patients:.1f} s "
          f"per patient): 90% band {np.mean(inside90):.3f} (target 0.85-0.95), 50% band {np.mean(inside50):.3f} "
          f"(target 0.45-0.55); median ESS {np.median(ess):.0f}, lowest {np.min(ess):.0f}")


if __name__ == "__main__":
    main()

"""Simulation-based calibration of the individual posterior (Talts S et al. 2018, arXiv:1804.06788).

Synthetic patients are drawn by the population's own sampler (drawn, then screened by simulated
failed courses) and observed with the model's visit noise. Their posteriors use the forecast's
prior (latent N(0, I) x the integrated screening probability), likelihood and band code, by
importance sampling over one shared bank of prior draws (round 0 of `posterior.infer`, made
large so that a thousand patients cost one simulation): if the prior, the screening integral,
the likelihood or the bands were wrong, the coverage would be off.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from ketasim.forecast import simulator as sim
from ketasim.forecast.patient_file import Observation, PatientRecord
from ketasim.forecast.posterior import infer, log_likelihood
from ketasim.forecast.result import weighted_quantiles
from ketasim.model.regimen import Regimen, dose

REGIMEN = Regimen.of(dose("ketamine", "iv", "0.5 mg/kg", infusion="40 min", at="0 d"))
COVARIATES = sim.Covariates(80.0)
COURSES = 2  # TRD: two failed courses (screened)
OBS_DAYS = {1: [0.0], 2: [0.0, 1.0], 4: [0.0, 1.0, 3.0, 7.0], 8: [0.0, 1.0, 2.0, 3.0, 5.0, 7.0, 10.0, 14.0]}
FUTURE_DAYS = [21.0, 28.0]
TIMES_H = 24.0 * np.array(sorted({d for days in OBS_DAYS.values() for d in days} | set(FUTURE_DAYS)))
BANK = 20_000
PATIENTS = 1000


@dataclass
class Bank:
    traits: dict[str, np.ndarray]
    log_prior: np.ndarray  # log of the prior / N(0, I) (the screening factor)
    madrs: np.ndarray  # (T, M) model MADRS
    noise: np.ndarray  # (T, M) one visit-noise draw per bank draw


def _simulate(traits: dict[str, np.ndarray]) -> np.ndarray:
    start, ok = sim.initial_states(traits, None)
    out, _ = sim.simulate_draws(REGIMEN, traits, TIMES_H, start=start)
    assert ok.all() and np.all(out["status"] == 0)
    return out["madrs"]


@pytest.fixture(scope="module")
def bank() -> Bank:
    z = np.random.default_rng(2018).standard_normal((BANK, len(sim.LATENT_NAMES)))
    traits = sim.traits_from_latent(z, COVARIATES)
    return Bank(traits, sim.log_screening_factor(traits, COURSES), _simulate(traits),
                sim.noise(7, "bank", np.arange(BANK), TIMES_H, sim.visit_noise_sd()))


@pytest.fixture(scope="module")
def truths() -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Synthetic patients: parameters, model MADRS (T, P) and observed MADRS (T, P) with visit noise."""
    traits = sim.population_draws(99, PATIENTS, COVARIATES, COURSES)
    madrs = _simulate(traits)
    observed = np.clip(madrs + sim.noise(99, "visits", np.arange(PATIENTS), TIMES_H, sim.visit_noise_sd()), 0.0, 60.0)
    return traits, madrs, observed


def _row(day: float) -> int:
    return int(np.searchsorted(TIMES_H, 24.0 * day))


def _weights(bank: Bank, observed: np.ndarray, days: list[float]) -> np.ndarray:
    rows = [_row(d) for d in days]
    log_w = bank.log_prior + log_likelihood(bank.madrs[rows], observed[rows], "madrs")
    w = np.exp(log_w - log_w.max())
    return w / w.sum()


def _band(bank: Bank, w: np.ndarray, day: float, qs: tuple[float, ...]) -> list[float]:
    row = _row(day)
    scores = np.clip(bank.madrs[row] + bank.noise[row], 0.0, 60.0)
    return weighted_quantiles(scores, w, qs)


@pytest.mark.slow
def test_posterior_predictive_bands_are_calibrated(bank: Bank, truths) -> None:
    """Over 1000 synthetic patients (4 observations), a new observed score at 21 and 28 d lies in the
    90% band 85-95% of the time and in the 50% band 45-55%."""
    _, _, observed = truths
    future = np.clip(truths[1] + sim.noise(123, "future", np.arange(PATIENTS), TIMES_H, sim.visit_noise_sd()), 0.0, 60.0)
    inside90, inside50, ess = [], [], []
    for p in range(PATIENTS):
        w = _weights(bank, observed[:, p], OBS_DAYS[4])
        ess.append(1.0 / np.sum(w**2))
        for day in FUTURE_DAYS:
            q05, q25, q75, q95 = _band(bank, w, day, (0.05, 0.25, 0.75, 0.95))
            y = future[_row(day), p]
            inside90.append(q05 <= y <= q95)
            inside50.append(q25 <= y <= q75)
    cover90, cover50 = float(np.mean(inside90)), float(np.mean(inside50))
    print(f"SBC coverage over {PATIENTS} patients x {len(FUTURE_DAYS)} times: 90% band {cover90:.3f}, "
          f"50% band {cover50:.3f}; median ESS {np.median(ess):.0f}")
    assert np.median(ess) > 100
    assert 0.85 <= cover90 <= 0.95
    assert 0.45 <= cover50 <= 0.55


@pytest.mark.slow
@pytest.mark.parametrize("trait", ["untreated_madrs", "monoaminergic_responsiveness"])
def test_rank_statistics_of_parameters_are_uniform(bank: Bank, truths, trait: str) -> None:
    """SBC proper: the posterior rank of the true value is uniform (deciles within 5-15%, 400 patients).

    untreated MADRS is informed by the observations; monoaminergic responsiveness hardly (one
    ketamine dose), so its posterior is mostly the screened prior: a prior without the TRD
    screening puts the truths' ranks low."""
    traits, _, observed = truths
    ranks = []
    for p in range(400):
        w = _weights(bank, observed[:, p], OBS_DAYS[4])
        ranks.append(float(np.sum(w[bank.traits[trait] < traits[trait][p]])))
    counts = np.histogram(ranks, bins=10, range=(0.0, 1.0))[0] / len(ranks)
    print(f"rank deciles of {trait}:", np.round(counts, 3))
    assert np.all(counts > 0.05) and np.all(counts < 0.15)


@pytest.mark.slow
def test_more_observations_help(bank: Bank, truths) -> None:
    """1, 2, 4, 8 observations: the 90% band at 21 d narrows, the median's error falls, the posterior nears the truth."""
    traits, madrs, observed = truths
    n = 150
    day = FUTURE_DAYS[0]
    truth_future = madrs[_row(day), :n]
    width, error, trait_error = [], [], []
    for count in (1, 2, 4, 8):
        widths, errors, trait_errors = [], [], []
        for p in range(n):
            w = _weights(bank, observed[:, p], OBS_DAYS[count])
            q05, q50, q95 = _band(bank, w, day, (0.05, 0.5, 0.95))
            widths.append(q95 - q05)
            errors.append(abs(q50 - truth_future[p]))
            gain = np.log(bank.traits["plasticity_gain"])
            trait_errors.append(abs(float(w @ gain) - np.log(traits["plasticity_gain"][p])))
        width.append(np.mean(widths))
        error.append(np.mean(errors))
        trait_error.append(np.mean(trait_errors))
    print("observations 1/2/4/8: 90% width", np.round(width, 2), "median error", np.round(error, 2),
          "log plasticity gain error", np.round(trait_error, 3))
    assert np.all(np.diff(width) < 0)
    assert np.all(np.diff(error) < 0)
    assert np.all(np.diff(trait_error) < 0)


@pytest.mark.slow
def test_adaptive_sampler_agrees_with_the_reference_posterior(bank: Bank, truths) -> None:
    """`posterior.infer` (4,000 draws, adaptive) gives the posterior of the 20,000-draw reference: at the
    reference's 5/25/50/75/95% quantiles of model MADRS at 21 d, the adaptive posterior's CDF is within
    0.08 of them (a CDF distance: quantiles of these often bimodal posteriors are themselves noisy),
    and the posterior mean log plasticity gain is within 0.25."""
    _, _, observed = truths
    qs = np.array([0.05, 0.25, 0.5, 0.75, 0.95])
    for p in range(4):
        y = observed[:, p]
        record = PatientRecord("synthetic", COVARIATES, COURSES, None, REGIMEN,
                               tuple(Observation(24.0 * d, "madrs", float(y[_row(d)])) for d in OBS_DAYS[4]))
        post = infer(record, draws=4000, seed=p)
        out, _ = sim.simulate_draws(REGIMEN, post.traits, 24.0 * np.array([7.0, 21.0]), start=post.state)
        w = _weights(bank, y, OBS_DAYS[4])
        reference = weighted_quantiles(bank.madrs[_row(21.0)], w, tuple(qs))
        cdf = np.array([post.weights[out["madrs"][1] <= x].sum() for x in reference])
        gain = (float(post.weights @ np.log(post.traits["plasticity_gain"])),
                float(w @ np.log(bank.traits["plasticity_gain"])))
        print(f"patient {p}: adaptive CDF at the reference quantiles {np.round(cdf, 3)}; log gain {gain[0]:.2f} vs "
              f"{gain[1]:.2f}; ESS {post.diagnostics['ess']:.0f}, k-hat {post.diagnostics['pareto_khat']:.2f}")
        assert np.max(np.abs(cdf - qs)) < 0.08
        assert abs(gain[0] - gain[1]) < 0.25

"""The individual posterior: the population prior updated by the patient's observations.

Method: adaptive importance sampling (population Monte Carlo; Cappe O et al. 2004, J Comput
Graph Stat 13:907) in the prior's latent space z ~ N(0, I) (`simulator.LATENT_NAMES`).

- Target: N(z; 0, I) x P(the patient's failed courses | z) (the TRD screening, integrated over the
  course factor) x [no response to the background] x likelihood. The likelihood is the model's own
  visit noise: an observed MADRS is the model's MADRS plus N(0, visit_noise_sd_madrs) noise,
  clipped to 0-60 (a score at 0 or 60 is censored); SBP and CADSS likewise with the noise below.
  Densities come from NumPyro (`numpyro.distributions.Normal`, float64).
- Rounds of about 1,000 draws (2 to 4). Round 0 draws from the prior; each later round from a
  defensive mixture: 10% the prior, 90% a two-part fit to the weighted draws so far. The
  plasticity-responder coordinate acts only through a threshold, and responders and blunted
  patients explain the same scores with very different gains, so each side gets its own part
  (probability: its posterior mass, at least 5%): a Gaussian over the other coordinates
  (covariance shrunk toward the prior's identity by d / (ESS + d), plus 0.02 I, so directions
  few draws inform stay wide) times the prior truncated to that side of the threshold. The fit
  uses the weights tempered (w^beta, the largest beta <= 1 whose ESS is at least 100), so that a
  first round with few informative draws still yields a proposal that covers the posterior. All
  draws are weighted together with the balance heuristic (deterministic mixture: Owen A & Zhou Y
  2000, J Am Stat Assoc 95:135): w = target / sum_r (n_r / n) q_r, which keeps weights bounded.
- The mechanistic model is simulated in numpy (vectorised over draws, fast engine); it has no
  gradients, so NUTS does not apply and neither does R-hat (no chains). Diagnostics: Kish's
  effective sample size (sum w)^2 / sum w^2, per round and overall, and the Pareto k-hat of the
  largest weights (Vehtari A et al. 2024, JMLR 25:72: k < 0.7 means the importance sampling
  estimates are reliable).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.stats import norm as jnorm
from numpyro import distributions as dist
from scipy.special import logsumexp, ndtr, ndtri
from scipy.stats import genpareto

from ketasim.model.parameters import Parameter

from .records import MEASURES, Observation, PatientRecord
from .simulator import (
    LATENT_NAMES,
    SimState,
    initial_states,
    log_screening_factor,
    responder_split,
    simulate_draws,
    traits_from_latent,
    visit_noise_sd,
)

#: observation noise of the measures beyond MADRS (MADRS uses the population's visit noise)
OBSERVATION_NOISE: dict[str, Parameter] = {
    "sbp": Parameter(8.0, "mmHg", "assumed: visit-to-visit SBP variability SD ~8 mmHg (Rothwell PM et al. 2010, "
                     "Lancet 375:895)", "SD of one systolic blood pressure reading around the model's value"),
    "cadss": Parameter(4.0, "CADSS points", "assumed: about half the between-patient SD of peak CADSS (9.2, "
                       "van Schalkwyk 2018)", "SD of one CADSS rating around the model's value"),
}
#: model output of each measure
MODEL_OUTPUT: dict[str, str] = {"madrs": "madrs", "sbp": "sbp_mmhg", "cadss": "cadss"}
_DEFENSIVE = 0.1
_INFLATE = 1.0  # extra widening of the fitted covariance (none: the shrinkage widens enough)
_JITTER = 0.02
_FIT_ESS = 100.0  # proposals are fitted to weights tempered to at least this ESS
_MIN_SIDE = 0.05  # each responder side keeps at least this share of the fitted part

Progress = Callable[[str], None]


def noise_sd(measure: str) -> float:
    """Observation noise SD of `measure` in its units."""
    return visit_noise_sd() if measure == "madrs" else OBSERVATION_NOISE[measure].value


@partial(jax.jit, static_argnames=("censored",))
def _censored_normal_log_lik(mu: jax.Array, y: jax.Array, sd: float, lo: float, hi: float, censored: bool) -> jax.Array:
    """sum over rows of log p(y | mu): N(mu, sd) density, or its tail mass at a bound when `censored`."""
    density = dist.Normal(mu, sd).log_prob(y[:, None])
    if censored:
        below = jnorm.logcdf((lo - mu) / sd)
        above = jnorm.logcdf((mu - hi) / sd)
        density = jnp.where(y[:, None] <= lo, below, jnp.where(y[:, None] >= hi, above, density))
    return jnp.sum(density, axis=0)


def log_likelihood(predicted: np.ndarray, observed: np.ndarray, measure: str) -> np.ndarray:
    """log p(observed | predicted) summed over observations: predicted (K, N), observed (K,); returns (N,).

    Observed = clip(model + N(0, sd), lo, hi) for MADRS and CADSS (a value at a bound is censored);
    SBP is not clipped.
    """
    lo, hi = MEASURES[measure]
    with jax.enable_x64(True):
        total = np.asarray(_censored_normal_log_lik(jnp.asarray(predicted, dtype=jnp.float64),
                                                    jnp.asarray(observed, dtype=jnp.float64), noise_sd(measure),
                                                    lo, hi, measure != "sbp"))
    return np.where(np.isfinite(total), total, -np.inf)


def split_time(record: PatientRecord) -> float:
    """Where history ends and forecasts begin: the last observation, or the start of an infusion running then."""
    t = record.last_observation_h
    for e in record.doses.events(t):
        if e.time_h < t < e.time_h + e.infusion_h:
            t = e.time_h
    return t


def full_regimen(record: PatientRecord):  # -> Regimen
    """The patient's doses plus the background (from time 0; before it the run-in gives steady state)."""
    return record.doses if record.background is None else record.doses + record.background


@dataclass
class Evaluation:
    """Draws z (n, d) with their log target parts, and their simulated state at the split time."""

    z: np.ndarray
    log_prior: np.ndarray  # log N(z; 0, I) + screening + background condition
    log_lik: np.ndarray
    state: SimState


def evaluate(record: PatientRecord, z: np.ndarray) -> Evaluation:
    """Simulate draws z through the patient's history; prior and likelihood terms, and the state at the split."""
    traits = traits_from_latent(z, record.covariates)
    courses = max(record.failed_treatments - (1 if record.background is not None else 0), 0)
    log_prior = -0.5 * np.sum(z**2, axis=1) - 0.5 * z.shape[1] * np.log(2 * np.pi)
    log_prior = log_prior + log_screening_factor(traits, courses)
    start, ok = initial_states(traits, record.background)
    log_prior = np.where(ok, log_prior, -np.inf)
    regimen = full_regimen(record)
    split = split_time(record)
    by_measure: dict[str, list[Observation]] = {}
    for o in record.observations:
        by_measure.setdefault(o.measure, []).append(o)
    times = np.array(sorted({o.time_h for o in record.observations}))
    before, after = times[times <= split + 1e-9], times[times > split + 1e-9]
    out, state = simulate_draws(regimen, traits, before if before.size else np.array([split]), start=start, end_h=split)
    status = out["status"].copy()
    pieces = [(before, out)]
    if after.size:
        more, _ = simulate_draws(regimen, traits, after, start=state)
        status |= more["status"]
        pieces.append((after, more))
    log_lik = np.zeros(z.shape[0])
    for measure, obs in by_measure.items():
        rows = []
        for o in obs:
            for t, part in pieces:
                hit = np.nonzero(np.abs(t - o.time_h) <= 1e-9)[0]
                if hit.size:
                    rows.append(part[MODEL_OUTPUT[measure]][hit[0]])
        log_lik += log_likelihood(np.array(rows), np.array([o.value for o in obs]), measure)
    log_lik = np.where(status == 0, log_lik, -np.inf)
    return Evaluation(z, log_prior, log_lik, state)


@dataclass
class Posterior:
    """Weighted draws of the individual posterior, with their states at the split time and diagnostics."""

    z: np.ndarray
    traits: dict[str, np.ndarray]
    weights: np.ndarray  # normalised, (n,)
    state: SimState
    split_h: float
    diagnostics: dict = field(default_factory=dict)
    prior_weights: np.ndarray | None = None  # the prior (screened) as weights over the round-0 draws

    def resample(self, n: int, seed: int) -> np.ndarray:
        """Systematic resampling: n draw indices, each draw about n x weight times."""
        u = (np.random.default_rng(seed).random() + np.arange(n)) / n
        return np.minimum(np.searchsorted(np.cumsum(self.weights), u), self.weights.size - 1)


def _gaussian_logpdf(z: np.ndarray, mean: np.ndarray, cov: np.ndarray) -> np.ndarray:
    chol = np.linalg.cholesky(cov)
    sol = np.linalg.solve(chol, (z - mean).T)
    return -0.5 * np.sum(sol**2, axis=0) - np.sum(np.log(np.diag(chol))) - 0.5 * z.shape[1] * np.log(2 * np.pi)


@dataclass(frozen=True)
class _Part:
    """One component of a round's proposal: responders (z_j below the split) or not, with probability
    `prob`; the other coordinates ~ N(mean, cov), z_j ~ N(0, 1) truncated to the component's side."""

    prob: float
    responder: bool
    mean: np.ndarray
    cov: np.ndarray


def _side_mass(responder: bool, split: float) -> float:
    return float(ndtr(split)) if responder else float(ndtr(-split))


def _log_q(z: np.ndarray, parts: list[_Part] | None) -> np.ndarray:
    """log density of one round's proposal at z: the prior (round 0), or 10% prior + 90% the parts."""
    d = z.shape[1]
    prior = _gaussian_logpdf(z, np.zeros(d), np.eye(d))
    if parts is None:
        return prior
    j, split = responder_split()
    rest = np.delete(z, j, axis=1)
    side = z[:, j] < split
    terms = []
    for part in parts:
        inside = side == part.responder
        log_zj = np.where(inside, -0.5 * z[:, j] ** 2 - 0.5 * np.log(2 * np.pi) - np.log(_side_mass(part.responder, split)),
                          -np.inf)
        terms.append(np.log(part.prob) + _gaussian_logpdf(rest, part.mean, part.cov) + log_zj)
    return np.logaddexp(np.log(_DEFENSIVE) + prior, np.log1p(-_DEFENSIVE) + logsumexp(np.stack(terms), axis=0))


def _fit_parts(z: np.ndarray, w: np.ndarray) -> list[_Part]:
    """Responders and non-responders each get a Gaussian fitted to their weighted draws (the responder
    coordinate acts only through its threshold, so the two posteriors differ in shape, e.g. in the gain)."""
    j, split = responder_split()
    rest = np.delete(z, j, axis=1)
    d = rest.shape[1]
    side = z[:, j] < split
    parts = []
    for responder in (True, False):
        ws = np.where(side == responder, w, 0.0)
        mass = float(ws.sum())
        prob = float(np.clip(mass, _MIN_SIDE, 1.0 - _MIN_SIDE))
        if mass <= 0.0:
            parts.append(_Part(prob, responder, np.zeros(d), np.eye(d)))
            continue
        ws = ws / mass
        mean = ws @ rest
        cov = (rest - mean).T @ ((rest - mean) * ws[:, None])
        ess = kish_ess(ws)
        shrunk = (ess * cov + d * np.eye(d)) / (ess + d)  # toward the prior where few draws inform the fit
        parts.append(_Part(prob, responder, mean, _INFLATE * shrunk + _JITTER * np.eye(d)))
    total = sum(p.prob for p in parts)
    return [_Part(p.prob / total, p.responder, p.mean, p.cov) for p in parts]


def _sample_parts(rng: np.random.Generator, parts: list[_Part], size: int, d: int) -> np.ndarray:
    """Draws from 10% prior + 90% the parts."""
    j, split = responder_split()
    z = rng.standard_normal((size, d))
    from_parts = rng.random(size) >= _DEFENSIVE
    which = rng.choice(len(parts), size=size, p=[p.prob for p in parts])
    for k, part in enumerate(parts):
        rows = np.nonzero(from_parts & (which == k))[0]
        if not rows.size:
            continue
        rest = rng.multivariate_normal(part.mean, part.cov, size=rows.size, method="cholesky")
        u = rng.random(rows.size) * _side_mass(part.responder, split)
        zj = ndtri(u) if part.responder else ndtri(ndtr(split) + u)
        z[rows] = np.insert(rest, j, zj, axis=1)
    return z


def _tempered(log_w: np.ndarray, target: float) -> np.ndarray:
    """Normalised weights w^beta with the largest beta in (0, 1] whose ESS reaches `target` (beta = 1 if
    the weights already do): a proposal fitted to them covers the posterior instead of a few lucky draws."""
    finite = np.where(np.isfinite(log_w), log_w - np.max(log_w), -np.inf)

    def weights(beta: float) -> np.ndarray:
        w = np.exp(beta * finite)
        return w / w.sum()

    if kish_ess(weights(1.0)) >= target:
        return weights(1.0)
    lo, hi = 0.0, 1.0
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if kish_ess(weights(mid)) >= target else (lo, mid)
    return weights(lo)


def kish_ess(weights: np.ndarray) -> float:
    """(sum w)^2 / sum w^2."""
    total = weights.sum()
    return float(total**2 / np.sum(weights**2)) if total > 0 else 0.0


def pareto_khat(log_weights: np.ndarray) -> float:
    """Pareto k-hat of the largest importance weights (tail of min(n/5, 3 sqrt(n)) draws)."""
    finite = np.sort(log_weights[np.isfinite(log_weights)])
    m = int(min(finite.size / 5, 3 * np.sqrt(finite.size)))
    if m < 5:
        return float("nan")
    w = np.exp(finite - finite[-1])
    tail, threshold = w[-m:], w[-m - 1]
    if np.ptp(tail) <= 0:
        return 0.0
    k, _, _ = genpareto.fit(tail - threshold, floc=0.0)
    return float(k)


def infer(record: PatientRecord, draws: int = 4000, rounds: int | None = None, seed: int = 0,
          progress: Progress | None = None) -> Posterior:
    """Adaptive importance sampling with `draws` simulated draws over `rounds` rounds (see module docstring).

    Default rounds: one per 1,000 draws, between 2 and 4 (rounds of about 1,000 draws leave the
    first round enough informative draws to fit the next proposal).
    """
    if rounds is None:
        rounds = min(4, max(2, draws // 1000))
    if draws < 100 * rounds:
        raise ValueError(f"draws must be at least {100 * rounds}, got {draws}")
    rng = np.random.default_rng(seed)
    d = len(LATENT_NAMES)
    sizes = [draws // rounds + (1 if r < draws % rounds else 0) for r in range(rounds)]
    components: list[list[_Part] | None] = []
    evaluations: list[Evaluation] = []
    round_ess: list[float] = []
    log_w = np.zeros(0)
    for r, size in enumerate(sizes):
        if r == 0:
            component = None
            z = rng.standard_normal((size, d))
        else:
            w = _tempered(log_w, _FIT_ESS)
            component = _fit_parts(np.concatenate([e.z for e in evaluations]), w)
            z = _sample_parts(rng, component, size, d)
        if progress is not None:
            progress(f"posterior: round {r + 1}/{rounds}, simulating {size} draws")
        components.append(component)
        ev = evaluate(record, z)
        evaluations.append(ev)
        own = ev.log_prior + ev.log_lik - _log_q(z, component)
        round_ess.append(kish_ess(np.exp(own - np.max(own))) if np.isfinite(own).any() else 0.0)
        z_all = np.concatenate([e.z for e in evaluations])
        mix = logsumexp(np.stack([np.log(s / sum(sizes[:r + 1])) + _log_q(z_all, c)
                                  for s, c in zip(sizes[:r + 1], components, strict=True)]), axis=0)
        log_w = np.concatenate([e.log_prior + e.log_lik for e in evaluations]) - mix
        if not np.isfinite(log_w).any():
            raise RuntimeError("no draw is compatible with the observations (all likelihoods are zero)")
    weights = np.exp(log_w - log_w.max())
    weights /= weights.sum()
    z_all = np.concatenate([e.z for e in evaluations])
    state = SimState(evaluations[0].state.time_h, np.concatenate([e.state.pd for e in evaluations]),
                     {k: np.concatenate([e.state.pk[k] for e in evaluations]) for k in evaluations[0].state.pk})
    first = evaluations[0]
    screened = first.log_prior + 0.5 * np.sum(first.z**2, axis=1)  # log prior / N(z; 0, I), up to a constant
    prior_w = np.where(np.isfinite(screened), np.exp(screened - np.max(screened)), 0.0)
    prior_w = prior_w / prior_w.sum()
    diagnostics = {
        "method": "adaptive importance sampling (population Monte Carlo) over the prior's latent space, "
                  "balance-heuristic weights; likelihood: the model's visit noise (NumPyro Normal)",
        "draws": int(draws), "rounds": int(rounds), "ess": kish_ess(weights), "ess_per_round": round_ess,
        "pareto_khat": pareto_khat(log_w), "r_hat": None,
        "r_hat_note": "not applicable: importance sampling has no chains (NUTS needs gradients the numpy engine lacks)",
        "log_evidence": float(logsumexp(log_w) - np.log(log_w.size)),
    }
    return Posterior(z_all, traits_from_latent(z_all, record.covariates), weights, state, split_time(record),
                     diagnostics, prior_w)

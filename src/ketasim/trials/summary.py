"""One arm's endpoint summary (its JSON object) from its per-patient values, through the endpoint registry."""

from __future__ import annotations

from typing import Any

from ketasim.engines.solvers import STATUS_OK
from ketasim.trials.endpoints import VITALS_METRICS, VisitValues, visit_summary
from ketasim.trials.outcomes import relapse_summary
from ketasim.trials.results import ArmResult
from ketasim.trials.trial_spec import EndpointsSpec


def summarise_arm(arm: ArmResult, ep: EndpointsSpec) -> dict[str, Any]:
    """The trial-spec output for one arm: n, baseline, visits, and relapse / vitals when the file asks for them.

    Patients whose solve failed are counted (failed_solves) and left out of every endpoint.
    """
    good = arm.status == STATUS_OK
    base = arm.baseline[good]
    summary: dict[str, Any] = {"n": int(arm.baseline.size), "baseline_madrs_mean": float(base.mean()) if base.size else None,
                               "failed_solves": int((~good).sum()), "candidates_screened": arm.candidates_screened,
                               "visits": {}}
    baselines = {name: values[good] for name, values in arm.baseline_values.items()}
    at_visit = [{name: values[v][good] for name, values in arm.visit_values.items()} for v in range(len(ep.visit_keys))]
    for v, key in enumerate(ep.visit_keys):
        # the visits before this one in time (the file may list them in any order)
        earlier = tuple(at_visit[w] for w, t in enumerate(ep.visit_times_h) if t < ep.visit_times_h[v])
        summary["visits"][key] = visit_summary(VisitValues(baselines, at_visit[v], ep.response_fraction,
                                                           ep.remission_at_most, earlier))
    rel = ep.relapse
    if rel is not None and arm.relapse_assessments is not None and arm.relapse_at is not None \
            and arm.relapse_days is not None:
        summary["relapse"] = relapse_summary(base, arm.relapse_at[good], arm.relapse_assessments[:, good], arm.relapse_days,
                                             rel.among, ep.response_fraction, ep.remission_at_most, rel.madrs_at_least)
    if ep.vitals and arm.vitals is not None:
        summary["vitals"] = {m.name: m.estimate(arm.vitals[m.name][good]) for m in VITALS_METRICS}
    return summary

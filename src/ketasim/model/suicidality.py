"""Suicidal ideation (SI): MADRS item 10 (0-6) and the Scale for Suicidal Ideation (SSI, 0-38).

SI follows three paths (data/suicidality/README.md):

- the depressive core: a share `si_mood_weight` of SI moves with the MADRS total relative to the
  untreated score (mood mediated about a third of ketamine's effect on SSI, Grunebaum 2018;
  SI change tracks total change only loosely, r 0.23-0.44, Ballard 2014);
- a fast path of its own: the acute neurotrophic signal (TrkB/mTORC1 above baseline, scaled by the
  patient's plasticity gain: a blunted BDNF path blunts it) relieves SI within hours, saturating, and
  the relief fades over days, sooner than the antidepressant effect (Su 2023: SI benefit to day 5,
  MADRS to day 14), with its own between-patient factor (partly independent of the MADRS response);
- acute care: being in care (inpatient / crisis care, trial contact) relieves SI within a day or
  two in patients who respond to non-specific care (placebo arms of SI trials: ~30% SSI response or
  remission, Grunebaum 2018, Abbar 2022).

Mapping: the latent score (continuous, 0-6, the expected item 10) is capped by the MADRS total
(item 10 is one of its ten items); SSI = 38 (item 10 / 6)^ssi_exponent (the scale ends coincide;
items correlate r > .80, Ballard 2015). Trials round item 10 to the rater's integer.
"""

from __future__ import annotations

from typing import Any

from ketasim.model.namespace import Array
from ketasim.model.parameters import Parameter as P

_CAL = ("calibrated to data/suicidality (price-2014, grunebaum-2018, abbar-2022; depression parameters fixed; "
        "benchmarks/fit_suicidality.py)")

ITEM10_MAX = 6.0  #: MADRS item 10 range 0-6 (points)
SSI_MAX = 38.0  #: SSI range 0-38 (points)

PARAMETERS: dict[str, P] = {
    "si_mood_weight": P(0.08116, "1", _CAL + "; started at the third of the ketamine SSI effect mediated by mood "
                        "(Grunebaum 2018); the fit prefers a small direct share (mood still mediates through the "
                        "acute neurotrophic signal and care, which drive both)",
                        "share of SI that moves with the MADRS total (relative to untreated)", valid=(0, 1)),
    "si_fast_gain_1_h": P(0.3167, "1/h", _CAL + "; SI falls within hours of an infusion (Price 2014; Ballard 2014: "
                          "at 40-230 min)", "rise of the fast SI relief per unit mTORC1 activation above baseline",
                          valid=(0, 100)),
    "si_fast_time_d": P(4.668, "d", _CAL + "; SI benefit lasts to about day 5, shorter than the MADRS benefit "
                        "(Su 2023, Int J Neuropsychopharmacol 26:331)", "decay time of the fast SI relief", valid=(0.01, 365)),
    "si_care_relief_max": P(0.5292, "1", _CAL + "; placebo arms of SI trials reach ~30% SSI response or remission "
                            "(Grunebaum 2018; Abbar 2022)",
                            "SI relief by acute care at full effect, per unit placebo responsiveness", valid=(0, 1)),
    "si_care_time_d": P(4.248, "d", _CAL + "; placebo SI responses are seen at day 1-3 (Grunebaum 2018; Abbar 2022)",
                        "time constant of the SI relief brought by acute care", valid=(0.01, 365)),
    "ssi_exponent": P(2.5, "1", "assumed: SSI = 38 (item 10 / 6)^a puts the scale ends together and an item 10 of 4 "
                      "at SSI ~14, the mid-teens seen at entry to SI trials (SSI >= 4 inclusion, Grunebaum 2018)",
                      "exponent of the item 10 -> SSI mapping", valid=(0.5, 5)),
}


def fast_relief_rate(xp: Any, mtor: Array, relief: Array, responsiveness: Array, p: dict[str, float]) -> Array:
    """d(fast SI relief)/dt, 1/h: the acute neurotrophic signal (mTORC1 above baseline, which carries the patient's
    plasticity gain from the BDNF step, times an SI-specific factor) drives it towards 1; it fades over days."""
    drive = p["si_fast_gain_1_h"] * responsiveness * xp.maximum(mtor, 0.0)
    return drive * (1.0 - relief) - relief / (p["si_fast_time_d"] * xp.hours_per_day)


def care_rate(xp: Any, in_care: Array, care: Array, p: dict[str, float]) -> Array:
    """d(acute-care SI effect)/dt, 1/h: follows being in care (0-1) with time constant si_care_time_d."""
    return (in_care - care) / (p["si_care_time_d"] * xp.hours_per_day)


def item10(xp: Any, madrs: Array, fast_relief: Array, care: Array, patient: dict[str, Array], p: dict[str, float]
           ) -> Array:
    """Expected MADRS item 10 (0-6, points, continuous): untreated SI times what the three paths leave,
    capped by the MADRS total (item 10 is one of its items)."""
    ratio = xp.maximum(madrs, 0.0) / xp.maximum(patient["untreated_madrs"], 1e-9)
    mood = xp.maximum(1.0 - p["si_mood_weight"] + p["si_mood_weight"] * ratio, 0.0)
    fast = 1.0 - xp.clip(fast_relief, 0.0, 1.0)
    care_left = 1.0 - xp.clip(patient["placebo_responsiveness"] * p["si_care_relief_max"] * care, 0.0, 1.0)
    latent = patient["suicidal_ideation"] * mood * fast * care_left
    return xp.clip(xp.minimum(latent, madrs), 0.0, ITEM10_MAX)


def ssi(xp: Any, item10_score: Array, p: dict[str, float]) -> Array:
    """SSI (0-38, points) from MADRS item 10 (0-6)."""
    return SSI_MAX * (xp.clip(item10_score, 0.0, ITEM10_MAX) / ITEM10_MAX) ** p["ssi_exponent"]

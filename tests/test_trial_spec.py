"""Trial files: the calibration files parse, and every contract violation gives one clear message."""

from __future__ import annotations

from pathlib import Path

import pytest

import ketasim
from ketasim.errors import KetasimInputError
from ketasim.trials.trial_spec import RelapseSpec, load_trial, parse_trial

#: the calibration files shipped in the package, in this repository
CALIBRATION = Path(__file__).resolve().parents[1] / "src" / "ketasim" / "data" / "calibration"

BASE = """\
name = "test trial"
seed = 7
patients_per_arm = 10

[population]
kind = "trd"
baseline_madrs = [22, 60]

[[arms]]
name = "ketamine"
doses = [ { drug = "ketamine", route = "iv", amount = "0.5 mg/kg", infusion = "40 min", at = "0 d" } ]

[[arms]]
name = "saline"
doses = [ { drug = "saline", route = "iv", amount = "0 mg", infusion = "40 min", at = "0 d" } ]

[endpoints]
visits = ["40 min", "1 d", "7 d"]
response = "50%"
remission = 10
"""

PUBLISHED = """
[[published]]
arm = "ketamine"
visit = "1 d"
metric = "change_mean"
value = -16.5
tolerance = 3.0
source = "Murrough 2013"
"""


def _load(tmp_path: Path, text: str):
    path = tmp_path / "trial.toml"
    path.write_text(text)
    return load_trial(path)


def _error(tmp_path: Path, text: str, *fragments: str) -> str:
    """Load `text` as trial.toml, expect one KetasimInputError, check it names the file and `fragments`."""
    with pytest.raises(KetasimInputError) as info:
        _load(tmp_path, text)
    message = str(info.value)
    assert "\n" not in message
    assert "trial.toml: " in message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


# --- valid files -------------------------------------------------------------------------------------------


def test_all_calibration_files_parse():
    files = sorted(CALIBRATION.glob("*.toml"))
    assert len(files) == 24  # 18 depression files, 4 suicidal-ideation files, 1 bipolar depression file, 1 PTSD file
    for path in files:
        spec = load_trial(path)
        assert spec.path == str(path)
        assert spec.arms and spec.patients_per_arm == 2000


def test_calibration_arms_visits_and_targets():
    murrough = load_trial(CALIBRATION / "murrough-2013-ajp.toml")
    assert murrough.arm_names == ("ketamine", "midazolam")
    assert murrough.endpoints.visit_keys == ("1 d", "7 d")
    assert murrough.endpoints.visit_times_h == (24.0, 168.0)
    assert murrough.endpoints.response_fraction == 0.5
    assert murrough.endpoints.remission_at_most == 10.0
    assert len(murrough.published) == 2
    assert murrough.published[0].arms == ("ketamine",) and not murrough.published[0].pooled

    vitals = load_trial(CALIBRATION / "vitals-and-dissociation.toml")
    assert vitals.endpoints.visit_times_h == pytest.approx((40 / 60, 2.0, 4.0))
    assert vitals.endpoints.vitals is True
    assert [t.pooled for t in vitals.published] == [True, True, True, False]
    assert vitals.published[0].arms == ("ketamine 0.5 mg/kg", "esketamine 56 mg")
    assert all(t.visit is None for t in vitals.published)

    star = load_trial(CALIBRATION / "star-d-level1.toml")
    assert star.population.kind == "mdd" and star.population.min_failed_treatments == 0
    assert star.endpoints.visit_keys[-1] == "14 wk" and star.endpoints.visit_times_h[-1] == 14 * 168.0
    assert len(star.arms[0].regimen.doses) == 2

    transform = load_trial(CALIBRATION / "transform-1-2-pooled.toml")
    assert transform.endpoints.remission_at_most == 12.0
    assert {d.drug for d in transform.arms[0].regimen.doses} == {"esketamine", "escitalopram"}


def test_fava_relapse_spec():
    spec = load_trial(CALIBRATION / "fava-2018-salloum-2019.toml")
    assert spec.endpoints.relapse == RelapseSpec("responders", "3 d", 72.0, 22.0, 336.0)
    assert spec.arm_names[-1] == "midazolam"
    assert [t.metric for t in spec.published].count("relapse.rate") == 3
    assert spec.published[0].pooled and len(spec.published[0].arms) == 3


def test_daly_background():
    spec = load_trial(CALIBRATION / "daly-2018-synapse.toml")
    background = spec.population.background
    assert background is not None and len(background.doses) == 1
    dose = background.doses[0]
    assert (dose.drug, dose.route, dose.amount.value_mg, dose.every_h) == ("escitalopram", "oral", 20.0, 24.0)
    assert dose.until_h is None
    assert spec.population.min_failed_treatments == 2
    assert spec.endpoints.visit_times_h == (2.0, 24.0, 168.0)
    assert len(spec.published) == 16


def test_defaults_and_copy(tmp_path):
    spec = _load(tmp_path, BASE + PUBLISHED)
    pop = spec.population
    assert (pop.min_failed_treatments, pop.weight_kg, pop.age, pop.background) == (2, (45.0, 140.0), (18.0, 65.0), None)
    assert spec.endpoints.relapse is None and spec.endpoints.vitals is False
    assert spec.published[0].visit == "1 d"
    smaller = spec.with_patients_per_arm(50)
    assert smaller.patients_per_arm == 50 and spec.patients_per_arm == 10 and smaller.arms == spec.arms
    with pytest.raises(KetasimInputError, match="patients_per_arm"):
        spec.with_patients_per_arm(0)


def test_response_as_fraction_and_relapse_default(tmp_path):
    text = BASE.replace('response = "50%"', "response = 0.4") + '[endpoints.relapse]\nat = "1 d"\n' \
        'madrs_at_least = 22\nuntil = "28 d"\n'
    spec = _load(tmp_path, text)
    assert spec.endpoints.response_fraction == 0.4
    assert spec.endpoints.relapse == RelapseSpec("responders", "1 d", 24.0, 22.0, 672.0)


def test_parse_trial_from_dict_names_source():
    with pytest.raises(KetasimInputError, match=r"^x\.toml: missing key 'name'"):
        parse_trial({}, "x.toml")


# --- errors ------------------------------------------------------------------------------------------------


def test_missing_key(tmp_path):
    _error(tmp_path, BASE.replace("seed = 7\n", ""), "missing key 'seed'", "integer")
    _error(tmp_path, BASE.replace('kind = "trd"\n', ""), "population: missing key 'kind'",
           '"mdd", "trd", "suicidal", "bipolar" or "ptsd"')
    _error(tmp_path, BASE.replace('response = "50%"\n', ""), "endpoints: missing key 'response'", "percentage")
    _error(tmp_path, BASE.replace('amount = "0 mg", ', ""), "arms[1].doses[0]: missing key 'amount'")
    _error(tmp_path, BASE + PUBLISHED.replace('source = "Murrough 2013"\n', ""), "published[0]: missing key 'source'")


def test_wrong_type(tmp_path):
    _error(tmp_path, BASE.replace('name = "test trial"', "name = 3"), "trial.toml: name: expected a string, got 3")
    _error(tmp_path, BASE.replace("baseline_madrs = [22, 60]", 'baseline_madrs = "22-60"'),
           "population.baseline_madrs: expected [low, high]")
    _error(tmp_path, BASE.replace('visits = ["40 min", "1 d", "7 d"]', 'visits = "1 d"'),
           "endpoints.visits: expected a non-empty list")
    _error(tmp_path, BASE.replace('visits = ["40 min", "1 d", "7 d"]', 'visits = ["40 min", 24]'),
           "endpoints.visits[1]: expected a time", "got 24")
    _error(tmp_path, BASE.replace('name = "saline"', 'name = ["saline"]'), "arms[1].name: expected a string")
    _error(tmp_path, BASE.replace('kind = "trd"', 'kind = "schizophrenia"'), "population.kind: expected one of 'mdd', 'trd'")


def test_unknown_drug_lists_known_drugs(tmp_path):
    message = _error(tmp_path, BASE.replace('drug = "saline"', 'drug = "salin"'),
                     "trial.toml: arms[1].doses[0]: drug: unknown drug 'salin'")
    for known in ketasim.DRUG_NAMES:
        assert known in message


def test_unknown_route(tmp_path):
    _error(tmp_path, BASE.replace('route = "iv", amount = "0 mg"', 'route = "nasal", amount = "0 mg"'),
           "arms[1].doses[0]: route: unknown route 'nasal'", "iv, intranasal, oral")
    _error(tmp_path, BASE.replace('"ketamine", route = "iv"', '"midazolam", route = "oral"'),
           "arms[0].doses[0]: route: midazolam cannot be given oral", "iv")


def test_unit_that_does_not_fit(tmp_path):
    _error(tmp_path, BASE.replace('amount = "0.5 mg/kg"', 'amount = "40 min"'),
           "arms[0].doses[0]: amount: unknown amount unit 'min'", "mg, mg/kg, ug/kg")
    _error(tmp_path, BASE.replace('at = "0 d" } ]\n\n[[arms]]', 'at = "5 mg" } ]\n\n[[arms]]'),
           "arms[0].doses[0]: at: unknown time unit 'mg'", "min, h, d, wk")
    _error(tmp_path, BASE.replace('"40 min", "1 d"', '"40 min", "1 mg"'),
           "endpoints.visits[1]: unknown time unit 'mg'", "min, h, d, wk")


def test_negative_amount(tmp_path):
    _error(tmp_path, BASE.replace('amount = "0.5 mg/kg"', 'amount = "-0.5 mg/kg"'),
           "arms[0].doses[0]: amount: a dose amount must not be negative")


def test_from_after_until(tmp_path):
    line = '{ drug = "ketamine", route = "iv", amount = "0.5 mg/kg", infusion = "40 min", at = "0 d" }'
    repeated = '{ drug = "ketamine", route = "iv", amount = "0.5 mg/kg", every = "1 d", from = "7 d", until = "2 d" }'
    _error(tmp_path, BASE.replace(line, repeated), "arms[0].doses[0]", "'from' (168 h) is after 'until' (48 h)")


def test_empty_arm(tmp_path):
    saline = '[ { drug = "saline", route = "iv", amount = "0 mg", infusion = "40 min", at = "0 d" } ]'
    text = BASE.replace(f"doses = {saline}", "doses = []")
    _error(tmp_path, text, "arms[1].doses: no doses")
    _error(tmp_path, BASE.replace('doses = [ { drug = "saline"', 'dose = [ { drug = "saline"'), "arms[1]")


def test_invalid_toml(tmp_path):
    _error(tmp_path, BASE.replace("seed = 7", "seed = = 7"), "invalid TOML", "line 2")


def test_unreadable_file(tmp_path):
    with pytest.raises(KetasimInputError, match=r"missing\.toml: cannot read the trial file"):
        load_trial(tmp_path / "missing.toml")


def test_unknown_keys(tmp_path):
    _error(tmp_path, BASE.replace("seed = 7", "sed = 7"), "trial.toml: sed: unknown key 'sed'", "did you mean 'seed'",
           "name, seed, patients_per_arm, population, arms, endpoints, published")
    _error(tmp_path, BASE.replace("remission = 10", "remision = 10"), "endpoints.remision: unknown key",
           "visits, response, remission, vitals, relapse")
    _error(tmp_path, BASE.replace('kind = "trd"', 'kind = "trd"\nweight = [50, 90]'),
           "population.weight: unknown key 'weight'", "weight_kg")
    _error(tmp_path, BASE + PUBLISHED.replace("tolerance =", "tolerence ="), "published[0].tolerence: unknown key")
    text = BASE + '[endpoints.relapse]\nat = "1 d"\nmadrs_at_least = 22\nuntil = "28 d"\nbefore = "2 d"\n'
    _error(tmp_path, text, "endpoints.relapse.before: unknown key 'before'", "among, at, madrs_at_least, until")


def test_bool_where_number_expected(tmp_path):
    _error(tmp_path, BASE.replace("patients_per_arm = 10", "patients_per_arm = true"),
           "patients_per_arm: expected an integer >= 1, got true")
    _error(tmp_path, BASE.replace("remission = 10", "remission = false"), "endpoints.remission: expected a number")
    _error(tmp_path, BASE.replace("[22, 60]", "[true, 60]"), "population.baseline_madrs[0]: expected a number")
    _error(tmp_path, BASE + PUBLISHED.replace("tolerance = 3.0", "tolerance = true"),
           "published[0].tolerance: expected a number")


def test_seed_not_an_integer(tmp_path):
    _error(tmp_path, BASE.replace("seed = 7", "seed = 7.5"), "trial.toml: seed: expected an integer >= 0, got 7.5")
    _error(tmp_path, BASE.replace("seed = 7", 'seed = "7"'), "seed: expected an integer")
    _error(tmp_path, BASE.replace("seed = 7", "seed = -1"), "seed: expected an integer >= 0")


def test_population_rules(tmp_path):
    mdd = BASE.replace('kind = "trd"', 'kind = "mdd"\nmin_failed_treatments = 2')
    _error(tmp_path, mdd, "population.min_failed_treatments", 'kind = "trd" and "bipolar" only')
    _error(tmp_path, BASE.replace("[22, 60]", "[40, 30]"), "population.baseline_madrs: expected [low, high]",
           "low <= high")
    _error(tmp_path, BASE.replace("[22, 60]", "[22, 70]"), "population.baseline_madrs[1]", "from 0 to 60")
    single = BASE.replace('kind = "trd"', 'kind = "trd"\nbackground = [ { drug = "escitalopram", route = "oral", '
                          'amount = "20 mg", at = "0 d" } ]')
    _error(tmp_path, single, "population.background[0]", "every")


def test_endpoint_rules(tmp_path):
    _error(tmp_path, BASE.replace('response = "50%"', 'response = "150%"'), "endpoints.response", "50%")
    _error(tmp_path, BASE.replace('response = "50%"', "response = 50"), "endpoints.response", "fraction")
    _error(tmp_path, BASE.replace('"40 min", "1 d"', '"40 min", "-1 d"'), "endpoints.visits[1]", "negative")
    _error(tmp_path, BASE.replace('"40 min", "1 d", "7 d"', '"1 d", "1 d"'), "endpoints.visits[1]", "twice")
    relapse = '[endpoints.relapse]\nat = "7 d"\nmadrs_at_least = 22\nuntil = "3 d"\n'
    _error(tmp_path, BASE + relapse, "endpoints.relapse.until: expected a time after 'at'")
    _error(tmp_path, BASE + relapse.replace('at = "7 d"', 'among = "everyone"\nat = "1 d"'),
           "endpoints.relapse.among", "'responders', 'remitters'")


def test_arm_rules(tmp_path):
    _error(tmp_path, BASE.replace('name = "saline"', 'name = "ketamine"'), "arms[1].name", "unique")
    cut = BASE.index("[[arms]]")
    _error(tmp_path, BASE[:cut] + BASE[BASE.index("[endpoints]"):], "missing key 'arms'")


def test_published_rules(tmp_path):
    _error(tmp_path, BASE + PUBLISHED.replace('arm = "ketamine"', 'arm = "ketamin"'),
           "published[0].arm: unknown arm 'ketamin'", "'ketamine', 'saline'")
    _error(tmp_path, BASE + PUBLISHED.replace('arm = "ketamine"', 'arm = ["ketamine", "salin"]'),
           "published[0].arm[1]: unknown arm 'salin'")
    _error(tmp_path, BASE + PUBLISHED.replace('visit = "1 d"', 'visit = "2 d"'),
           "published[0].visit: unknown visit '2 d'", "'40 min', '1 d', '7 d'")
    _error(tmp_path, BASE + PUBLISHED.replace('visit = "1 d"\n', ""), "published[0]: missing key 'visit'")
    _error(tmp_path, BASE + PUBLISHED.replace("change_mean", "change_median"), "published[0].metric",
           "relapse.median_days", "vitals.cadss_peak_mean")
    relapse = PUBLISHED.replace('visit = "1 d"\n', "").replace("change_mean", "relapse.rate").replace("-16.5", "0.3")
    _error(tmp_path, BASE + relapse, "published[0].metric", "needs an [endpoints.relapse] section")
    _error(tmp_path, BASE + relapse.replace("relapse.rate", "relapse.count").replace('metric', 'visit = "1 d"\nmetric'),
           "published[0].visit", "takes no visit")
    vitals = relapse.replace("relapse.rate", "vitals.hr_peak_change_mean")
    _error(tmp_path, BASE + vitals, "published[0].metric", "vitals = true")
    assert _load(tmp_path, BASE.replace("remission = 10", "remission = 10\nvitals = true") + vitals).published
    _error(tmp_path, BASE + PUBLISHED.replace("change_mean", "response_rate"), "published[0].value", "from 0 to 1")
    _error(tmp_path, BASE + PUBLISHED.replace("tolerance = 3.0", "tolerance = -1"), "published[0].tolerance", ">= 0")


# --- keys added since the first version ([design] blinded, age, relapse assess_every, published versus) ------

RELAPSE = '[endpoints.relapse]\nat = "1 d"\nmadrs_at_least = 22\nuntil = "28 d"\n'


def test_design_blinded(tmp_path):
    assert _load(tmp_path, BASE).design.blinded is True
    open_label = BASE.replace("[population]", "[design]\nblinded = false\n\n[population]")
    assert _load(tmp_path, open_label).design.blinded is False
    _error(tmp_path, open_label.replace("blinded = false", 'blinded = "no"'), "design.blinded", "true", "false")
    _error(tmp_path, open_label.replace("blinded = false", "blind = false"), "design.blind: unknown key", "blinded")


def test_age_window(tmp_path):
    spec = _load(tmp_path, BASE.replace("baseline_madrs = [22, 60]", "baseline_madrs = [22, 60]\nage = [65, 90]"))
    assert spec.population.age == (65.0, 90.0)
    _error(tmp_path, BASE.replace("baseline_madrs = [22, 60]", "baseline_madrs = [22, 60]\nage = [90, 65]"),
           "population.age", "low <= high")


def test_relapse_assess_every(tmp_path):
    daily = _load(tmp_path, BASE + RELAPSE).endpoints.relapse
    assert daily.assess_every_h is None
    assert list(daily.assessment_times_h()) == [24.0 * d for d in range(2, 29)]
    assert list(daily.assessment_days()) == [float(d) for d in range(1, 28)]
    weekly = _load(tmp_path, BASE + RELAPSE + 'assess_every = "1 wk"\n').endpoints.relapse
    assert (weekly.assess_every_h, weekly.assess_every_key) == (168.0, "1 wk")
    assert list(weekly.assessment_times_h()) == [24.0 + 168.0 * k for k in (1, 2, 3)]  # 8, 15, 22 d; 29 d is after until
    assert list(weekly.assessment_days()) == [7.0, 14.0, 21.0]
    _error(tmp_path, BASE + RELAPSE + 'assess_every = "0 d"\n', "endpoints.relapse.assess_every", "> 0")
    _error(tmp_path, BASE + RELAPSE + 'assess_every = "30 d"\n', "endpoints.relapse.assess_every", "one assessment")
    _error(tmp_path, BASE + RELAPSE + 'assess_every = "1 mg"\n', "endpoints.relapse.assess_every")


def test_published_versus(tmp_path):
    versus = PUBLISHED.replace('metric = "change_mean"', 'metric = "change_mean"\nversus = "saline"')
    target = _load(tmp_path, BASE + versus).published[0]
    assert (target.arms, target.versus, target.versus_pooled) == (("ketamine",), ("saline",), False)
    assert _load(tmp_path, BASE + PUBLISHED).published[0].versus == ()
    rate = versus.replace("change_mean", "response_rate")
    assert _load(tmp_path, BASE + rate.replace("-16.5", "0.2")).published[0].value == 0.2
    assert _load(tmp_path, BASE + rate.replace("-16.5", "-0.2")).published[0].value == -0.2  # a difference may be < 0
    _error(tmp_path, BASE + rate.replace("-16.5", "-1.5"), "published[0].value", "difference", "from -1 to 1")
    _error(tmp_path, BASE + versus.replace('versus = "saline"', 'versus = "salin"'), "published[0].versus: unknown arm")
    _error(tmp_path, BASE + versus.replace('versus = "saline"', 'versus = "ketamine"'), "published[0].versus", "also in 'arm'")
    _error(tmp_path, BASE + versus.replace('versus = "saline"', 'versus = ["saline", "ketamine"]'),
           "published[0].versus[1]", "also in 'arm'")
    _error(tmp_path, BASE + versus.replace('versus = "saline"', "versus = 3"), "published[0].versus: expected a string")


def test_published_n(tmp_path):
    """`n`, the published patients behind a target: optional, an integer >= 1, a pair [n_arm, n_versus] with versus."""
    assert _load(tmp_path, BASE + PUBLISHED).published[0].n is None  # absent: not stated
    with_n = PUBLISHED.replace("value = -16.5", "value = -16.5\nn = 47")
    assert _load(tmp_path, BASE + with_n).published[0].n == 47
    versus = PUBLISHED.replace('metric = "change_mean"', 'metric = "change_mean"\nversus = "saline"')
    pair = versus.replace("value = -16.5", "value = -16.5\nn = [35, 33]")
    assert _load(tmp_path, BASE + pair).published[0].n == (35, 33)
    pooled = PUBLISHED.replace('arm = "ketamine"', 'arm = ["ketamine", "saline"]').replace("value = -16.5",
                                                                                            "value = -16.5\nn = 60")
    assert _load(tmp_path, BASE + pooled).published[0].n == 60  # a pool: its total
    for bad in ("0", "-3", "12.0", "12.5", '"40"', "true"):
        _error(tmp_path, BASE + with_n.replace("n = 47", f"n = {bad}"), "published[0].n: expected a whole number of "
               "patients >= 1, got")
    _error(tmp_path, BASE + with_n.replace("n = 47", "n = [35, 33]"), "published[0].n: expected the published number "
           "of patients", "is for a difference with 'versus'", "got [35, 33]")
    for bad in ("35", "[35]", "[35, 33, 30]", "[]", '"35, 33"'):
        _error(tmp_path, BASE + pair.replace("n = [35, 33]", f"n = {bad}"), "published[0].n: expected [n_arm, n_versus] "
               "for a difference (with 'versus')", "got")
    _error(tmp_path, BASE + pair.replace("n = [35, 33]", "n = [35, 0]"), "published[0].n[1]: expected a whole number")
    _error(tmp_path, BASE + pair.replace("n = [35, 33]", 'n = ["35", 33]'), "published[0].n[0]: expected a whole number")
    second = BASE + PUBLISHED + with_n.replace("n = 47", "n = -1")
    _error(tmp_path, second, "published[1].n: expected a whole number of patients >= 1, got -1")

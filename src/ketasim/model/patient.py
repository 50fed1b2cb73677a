"""Virtual patients: named, typed parameter sets, with two typical patients to start from."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

import numpy as np

from ketasim.errors import KetasimInputError
from ketasim.io.toml_file import read_toml
from ketasim.model.parameters import check_value

#: (unit, valid range) of every patient field; outside the range the equations or physiology break down
PATIENT_RANGES: dict[str, tuple[str, tuple[float, float]]] = {
    "weight_kg": ("kg", (10.0, 400.0)), "age_y": ("y", (0.0, 120.0)), "female": ("1 (0 or 1)", (0.0, 1.0)),
    "cl_factor": ("1", (0.05, 20.0)), "v_factor": ("1", (0.05, 20.0)), "qh_factor": ("1", (0.05, 20.0)),
    "esk_vc_factor": ("1", (0.05, 20.0)), "esk_vp1_factor": ("1", (0.05, 20.0)),
    "esk_ka_nasal_factor": ("1", (0.05, 20.0)), "ssri_cl_factor": ("1", (0.05, 20.0)),
    "esk_nasal_logit": ("1 (logit shift)", (-10.0, 10.0)), "natural_course": ("1 (fraction of untreated MADRS)", (-1.0, 1.0)),
    "suicidal_ideation": ("MADRS item-10 points", (0.0, 6.0)), "si_fast_responsiveness": ("1", (0.0, 1000.0)),
    "untreated_madrs": ("MADRS points", (0.0, 60.0)), "synapse_deficit": ("1", (0.0, 0.95)),
    "plasticity_gain": ("1", (0.0, 20.0)), "monoaminergic_responsiveness": ("1", (0.0, 1000.0)),
    "placebo_responsiveness": ("1", (0.0, 1000.0)), "cardiovascular_sensitivity": ("1", (0.0, 100.0)),
    "dissociation_sensitivity": ("1", (0.0, 100.0)), "sbp0_mmhg": ("mmHg", (70.0, 250.0)),
    "dbp0_mmhg": ("mmHg", (40.0, 150.0)), "hr0_bpm": ("beats/min", (30.0, 200.0)),
    "untreated_caps5": ("CAPS-5 points", (0.0, 80.0)),
}


@dataclass(frozen=True)
class Patient:
    """One virtual patient. Factors are multiplicative on the typical (population) value.

    Units: weight kg, age years, MADRS points (0-60), blood pressure mmHg, heart rate bpm;
    everything else is dimensionless.
    """

    weight_kg: float = 70.0
    age_y: float = 45.0
    female: float = 1.0  #: 1 female, 0 male (recorded; no sex effect in the PK models used)
    # PK variability (1 = typical)
    cl_factor: float = 1.0  #: ketamine / esketamine / midazolam / memantine clearance
    v_factor: float = 1.0  #: volumes of distribution
    qh_factor: float = 1.0  #: hepatic blood flow (esketamine first pass; Perez-Ruixo 2021)
    esk_vc_factor: float = 1.0  #: esketamine central volume (Perez-Ruixo 2021)
    esk_vp1_factor: float = 1.0  #: esketamine peripheral volume 1 (Perez-Ruixo 2021)
    esk_ka_nasal_factor: float = 1.0  #: esketamine nasal absorption rate (Perez-Ruixo 2021)
    esk_nasal_logit: float = 0.0  #: shift of the logit of the esketamine nasal fraction (Perez-Ruixo 2021; 0 = typical)
    ssri_cl_factor: float = 1.0  #: SSRI clearance (CYP2C19 / CYP2D6 variability)
    # disease and response
    untreated_madrs: float = 33.0  #: MADRS at the stress-induced synapse deficit, before any treatment
    synapse_deficit: float = 0.35  #: fraction of healthy spine density lost to chronic stress
    plasticity_gain: float = 1.0  #: activity-dependent BDNF release (1 typical): the BDNF/mTOR -> synapse path
    monoaminergic_responsiveness: float = 1.0  #: strength of the serotonergic plasticity path
    placebo_responsiveness: float = 1.0  #: expectancy / non-specific improvement
    natural_course: float = 0.0  #: drift of the episode by itself after weeks, fraction of untreated MADRS (+ worse)
    cardiovascular_sensitivity: float = 1.0  #: pressor and chronotropic response
    dissociation_sensitivity: float = 1.0  #: CADSS response
    sbp0_mmhg: float = 125.0  #: resting systolic blood pressure
    dbp0_mmhg: float = 78.0  #: resting diastolic blood pressure
    hr0_bpm: float = 72.0  #: resting heart rate
    # suicidal ideation (model/suicidality.py)
    suicidal_ideation: float = 1.5  #: untreated MADRS item 10 (0-6, continuous): suicidal thoughts before treatment
    si_fast_responsiveness: float = 1.0  #: strength of the fast (neurotrophic) relief of suicidal ideation
    # PTSD (model/ptsd.py)
    untreated_caps5: float = 0.0  #: CAPS-5 total (0-80) before any treatment; 0: no PTSD

    def __post_init__(self) -> None:
        for f in fields(self):
            unit, valid = PATIENT_RANGES[f.name]
            check_value(f.name, getattr(self, f.name), unit, valid, "patient")

    def with_(self, **overrides: float) -> Patient:
        """A copy with some parameters changed; unknown names are an error."""
        known = {f.name for f in fields(self)}
        unknown = set(overrides) - known
        if unknown:
            raise KetasimInputError(
                f"unknown patient parameter(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}")
        return replace(self, **{k: check_value(k, v, *PATIENT_RANGES[k], "patient") for k, v in overrides.items()})


PATIENT_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Patient))

#: Typical patients: the population medians of ketasim's virtual populations.
TYPICAL_PATIENTS: dict[str, Patient] = {
    "typical-trd": Patient(untreated_madrs=33.0, synapse_deficit=0.35, monoaminergic_responsiveness=0.35),
    "typical-mdd": Patient(untreated_madrs=30.0, synapse_deficit=0.30, monoaminergic_responsiveness=1.0),
    # the median of kind = "suicidal": major depression with active suicidal thoughts (item 10 >= 4)
    "acute-suicidal-crisis": Patient(untreated_madrs=38.0, synapse_deficit=0.35, monoaminergic_responsiveness=0.42,
                                     suicidal_ideation=4.5),
    # the median of kind = "bipolar": drawn as "mdd" (docs/indications.md), here on its mood stabiliser's terms
    "typical-bipolar": Patient(untreated_madrs=31.0, synapse_deficit=0.35, monoaminergic_responsiveness=0.42),
    # the median of kind = "ptsd": chronic PTSD, CAPS-5 42 untreated (trials/population.py ptsd_caps5_mean)
    "typical-ptsd": Patient(untreated_madrs=31.0, synapse_deficit=0.35, monoaminergic_responsiveness=0.42,
                            untreated_caps5=42.0),
}


#: what each typical patient stands for (`ketasim simulate --help`, docs/patient-file.md)
TYPICAL_DESCRIPTIONS: dict[str, str] = {
    "typical-trd": "treatment-resistant depression: MADRS 33 untreated, 35% of spines lost, weak monoaminergic "
                   "response (0.35: SSRIs help little); 70 kg, 45 y",
    "typical-mdd": "major depression, any history: MADRS 30 untreated, 30% of spines lost, typical monoaminergic "
                   "response (1.0); 70 kg, 45 y",
    "typical-bipolar": "bipolar depression (the median of kind = \"bipolar\", drawn as major depression): MADRS 31 "
                       "untreated, 35% of spines lost; give its mood stabiliser in the regimen (lithium, valproate); 70 kg, 45 y",
    "typical-ptsd": "chronic PTSD: CAPS-5 42 and MADRS 31 untreated, 35% of spines lost; 70 kg, 45 y",
}


def load_patient(path: str) -> Patient:
    """A patient file: TOML with `base = "typical-trd"` (or typical-mdd) and any patient fields (docs/patient-file.md)."""
    data = read_toml(path, "patient file")
    base = data.pop("base", "typical-trd")
    if base not in TYPICAL_PATIENTS:
        raise KetasimInputError(f"{path}: base: expected one of {', '.join(TYPICAL_PATIENTS)}, got {base!r}")
    unknown = sorted(set(data) - set(PATIENT_FIELDS))
    if unknown:
        raise KetasimInputError(f"{path}: unknown key {unknown[0]!r}; patient fields: {', '.join(PATIENT_FIELDS)}")
    values = {k: check_value(k, v, *PATIENT_RANGES[k], path) for k, v in data.items()}
    return replace(TYPICAL_PATIENTS[base], **values)


def typical_patient(name: str) -> Patient:
    """A typical patient by name (a key of TYPICAL_PATIENTS)."""
    if not isinstance(name, str) or name not in TYPICAL_PATIENTS:
        raise KetasimInputError(f"unknown patient {name!r}; known: {', '.join(TYPICAL_PATIENTS)}")
    return TYPICAL_PATIENTS[name]


def stack_patients(patients: list[Patient]) -> dict[str, np.ndarray]:
    """Patients as a dict of (N,) arrays, the form the model functions take."""
    return {name: np.array([getattr(p, name) for p in patients], dtype=float) for name in PATIENT_FIELDS}


def patient_dict(patient: Patient) -> dict[str, float]:
    return asdict(patient)

"""ketasim: a mechanistic simulator of rapid-acting antidepressants (research software, not a medical device).

Public API (everything else lives in private modules and may change):
"""

from ._drugs import DRUG_NAMES, DRUGS, DrugSpec
from ._engine import SolverSettings
from ._errors import KetasimInputError
from ._parameters import Parameter
from ._patient import TYPICAL_PATIENTS, Patient, typical_patient
from ._regimen import PRESETS, Dose, Regimen, dose, preset
from ._simulate import simulate, simulate_result

__version__ = "0.1.0"

__all__ = [
    "DRUGS",
    "DRUG_NAMES",
    "PRESETS",
    "TYPICAL_PATIENTS",
    "Dose",
    "DrugSpec",
    "KetasimInputError",
    "Parameter",
    "Patient",
    "Regimen",
    "SolverSettings",
    "dose",
    "preset",
    "simulate",
    "simulate_result",
    "typical_patient",
]

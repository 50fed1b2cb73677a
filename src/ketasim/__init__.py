"""ketasim: a mechanistic simulator of rapid-acting antidepressants.

Research software, not a medical device: it informs, it does not prescribe.

The public API is the list below; everything else lives in private modules and may change.
"""

from . import forecast
from ._drugs import DRUG_NAMES, DRUGS, DrugSpec
from ._engine import SolverSettings
from ._errors import KetasimInputError
from ._nonmem import read_nonmem_csv, regimen_from_nonmem, write_nonmem_csv
from ._parameters import Parameter
from ._patient import TYPICAL_PATIENTS, Patient, typical_patient
from ._regimen import PRESETS, Dose, Regimen, dose, preset
from ._simulate import simulate, simulate_result
from ._trial import TrialResult, run_trial
from ._trial_spec import TrialSpec, load_trial
from ._validate import validate
from .forecast import Forecast

__version__ = "0.1.0"

__all__ = [
    "DRUGS",
    "DRUG_NAMES",
    "PRESETS",
    "TYPICAL_PATIENTS",
    "Dose",
    "DrugSpec",
    "Forecast",
    "KetasimInputError",
    "Parameter",
    "Patient",
    "Regimen",
    "SolverSettings",
    "TrialResult",
    "TrialSpec",
    "dose",
    "forecast",
    "load_trial",
    "preset",
    "read_nonmem_csv",
    "regimen_from_nonmem",
    "run_trial",
    "simulate",
    "simulate_result",
    "typical_patient",
    "validate",
    "write_nonmem_csv",
]

"""ketasim: a mechanistic simulator of rapid-acting antidepressants.

Research software, not a medical device: it informs, it does not prescribe.

The public API is the list below; everything else lives in private modules and may change.
"""

from ketasim import forecast
from ketasim.engines.solvers import SolverSettings
from ketasim.errors import KetasimInputError
from ketasim.forecast import Forecast
from ketasim.interchange.nonmem import read_nonmem_csv, regimen_from_nonmem, write_nonmem_csv
from ketasim.model.drugs import DRUG_NAMES, DRUGS, DrugSpec, read_compound, register_compound_file
from ketasim.model.parameters import Parameter
from ketasim.model.patient import TYPICAL_PATIENTS, Patient, typical_patient
from ketasim.model.regimen import PRESETS, Dose, Regimen, dose, preset
from ketasim.simulation import SimulationResult, simulate, simulate_result
from ketasim.trials.endpoints import VISIT_METRICS, VisitMetric
from ketasim.trials.results import ArmResult, TrialResult
from ketasim.trials.trial import run_trial
from ketasim.trials.trial_spec import TrialSpec, load_trial, parse_trial
from ketasim.trials.validate import TargetCheck, validate

__version__ = "0.1.0"

__all__ = [
    "DRUGS",
    "DRUG_NAMES",
    "PRESETS",
    "TYPICAL_PATIENTS",
    "VISIT_METRICS",
    "ArmResult",
    "Dose",
    "DrugSpec",
    "Forecast",
    "KetasimInputError",
    "Parameter",
    "Patient",
    "Regimen",
    "SimulationResult",
    "SolverSettings",
    "TargetCheck",
    "TrialResult",
    "TrialSpec",
    "VisitMetric",
    "dose",
    "forecast",
    "load_trial",
    "parse_trial",
    "preset",
    "read_compound",
    "read_nonmem_csv",
    "regimen_from_nonmem",
    "register_compound_file",
    "run_trial",
    "simulate",
    "simulate_result",
    "typical_patient",
    "validate",
    "write_nonmem_csv",
]

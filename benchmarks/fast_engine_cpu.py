"""CPU patients/s of the numpy fast engine alone (model build + solve), best of 3, for comparing two source trees.

    python benchmarks/fast_engine_cpu.py 1000                         # this tree
    PYTHONPATH=/path/to/other/src python benchmarks/fast_engine_cpu.py 1000   # another checkout, same venv

One process per tree, CPU time (less sensitive to other load than wall time); the step count shows
whether both solved the same problem. Layouts before and after the subpackage move are both read.
"""

import sys
import time

import numpy as np

try:
    from ketasim.engines.solvers import SolverSettings, solve_fast
    from ketasim.model.arm import ArmModel, initial_state, model_values
    from ketasim.model.regimen import Regimen, dose
    from ketasim.trials.population import PopulationSettings, draw_candidates, population_values
except ImportError:
    from ketasim._engine import SolverSettings, solve_fast  # type: ignore[no-redef]  # before the subpackage move
    from ketasim._model import ArmModel, initial_state, model_values  # type: ignore[no-redef]
    from ketasim._population import PopulationSettings, draw_candidates, population_values  # type: ignore[no-redef]
    from ketasim._regimen import Regimen, dose  # type: ignore[no-redef]
n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
DAYS = ["0 d", "3 d", "7 d", "10 d", "14 d", "17 d", "21 d", "24 d"]
reg = Regimen.of(dose("ketamine", "iv", "0.5 mg/kg", infusion="40 min", at=DAYS),
                 dose("escitalopram", "oral", "10 mg", every="1 d"))
pat = draw_candidates(1, 0, np.arange(n), population_values(), PopulationSettings())
times = np.array([0, 1, 7, 14, 21, 28, 42, 56]) * 24.0
best = 1e9
for _ in range(3):
    t0 = time.process_time()
    m = ArmModel(reg, pat, model_values(), 0.0, 56 * 24.0)
    s = solve_fast(m, times, initial_state(pat), SolverSettings())
    best = min(best, time.process_time() - t0)
print(f"{n / best:.1f} patients/s (cpu), steps {int(s.steps.sum())}")

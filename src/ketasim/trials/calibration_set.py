"""The calibration's trial set, prepared once and evaluated many times: every arm of every file in one solve.

`CalibrationSet(files, patients_per_arm)` loads the trial files and what does not depend on the
parameters (output times, chunk sizes, plausibility flags) once; `results(params, pop)` then runs
every file as `run_trial(spec, patients_per_arm=n, params=params, pop=pop, keep_patients=False)`
would, with the same screening, the same candidates and the same per-patient numbers, but:

- the in-silico screening's run-ins (background treatment before day 0) of all arms are solved
  together, round after round of screening, with `engines.batch.solve_fast_batch`;
- the trial arms of all files are then solved together in one more batched solve;
- with workers=2 the files are shared between two worker processes (balanced by their estimated
  cost), each holding its own prepared share: the numbers do not depend on it.

Fitting options (a different method, so numbers move within the solver's tolerance, far inside
the sampling intervals): daily=False solves only the times the endpoints read (no daily course),
and looser `settings`; `trials.calibrate` fits with `FIT_SETTINGS` and daily=False, then checks
the targets before and after with the exact path.

Each solve's per-patient numbers are bit-identical to the fast engine's, so the results, and
`checks` (the published targets), equal those of run_trial with the fast engine. Screening still
runs at every evaluation: it depends on fitted parameters (the monoaminergic and contact
parameters decide who fails the screening courses and the run-in). Used by `trials.calibrate`
and, through it, `trials.cross_validate`; `benchmarks/calibration_eval.py` compares the two paths.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Generator, Iterable
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np

from ketasim.checks.plausibility import report
from ketasim.engines.batch import solve_fast_batch
from ketasim.engines.solvers import Solution, SolverSettings
from ketasim.errors import KetasimInputError
from ketasim.model.arm import ArmModel, initial_state, model_values
from ketasim.trials.population import population_values, take
from ketasim.trials.results import ArmResult, TrialResult
from ketasim.trials.trial import (
    RUN_IN_TIMES,
    ArmJob,
    RunInRequest,
    RunInRow,
    arm_result,
    auto_chunk_size,
    check_trial_size,
    first_dose_h,
    output_times,
    prepare_steps,
    reduce_chunk,
    run_in_model,
    run_in_rows,
    selection_steps,
    stack_run_ins,
    trial_model,
)
from ketasim.trials.trial_checks import trial_flags
from ketasim.trials.trial_spec import TrialSpec, load_trial
from ketasim.trials.validate import TargetCheck, check_targets


class _Arm:
    """One arm of one file: what stays the same between evaluations."""

    def __init__(self, label: str, spec: TrialSpec, arm_index: int, daily: bool) -> None:
        self.label, self.spec, self.arm_index = label, spec, arm_index
        self.times = output_times(spec, first_dose_h(spec, arm_index), False, daily)
        self.chunk_size = auto_chunk_size(spec, arm_index, self.times)


#: solver settings for the evaluations of a fit (checked against the default, tight ones before and after);
#: the steps are mostly bounded by stability and by the doses, not by the tolerance, so looser ones buy
#: little (1e-3 no faster than 1e-4 at 150 patients per arm, and 40x further from the exact targets)
FIT_SETTINGS = SolverSettings(rtol=1e-4, atol=1e-6)

#: the batched solvers by name: "batch" (numpy, bit-identical to the fast engine) or "jax" (engines.jax_batch)
SET_ENGINES = ("batch", "jax")


def _batched_solver(engine: str) -> Callable[..., list[Solution]]:
    if engine == "batch":
        return solve_fast_batch
    if engine == "jax":
        try:
            from ketasim.engines.jax_batch import solve_jax_batch
        except ImportError as err:
            raise KetasimInputError(f"engine 'jax' needs jax ({err}); install it with: pip install 'ketasim[fast]'") from None
        return solve_jax_batch
    raise KetasimInputError(f"unknown calibration engine {engine!r}; engines: {', '.join(SET_ENGINES)}")

#: worker processes start fresh (forkserver): forking a process that has threads (JAX, Dask) can deadlock
_FRESH_PROCESSES = multiprocessing.get_context("forkserver")


class CalibrationSet:
    """Trial files prepared for repeated evaluation at `patients_per_arm` with the fast engine.

    files: trial files (paths) or (label, TrialSpec) pairs; settings: the solver's tolerances;
    daily: solve the daily course too, as run_trial does (False: only what the endpoints read);
    workers: processes that share the files in `checks` (call `close` when done, or use `with`);
    engine: "batch" (numpy, the default) or "jax" (`engines.jax_batch`: the same method compiled,
    numbers equal to round-off; on a CPU slower than numpy, see that module). `evaluations` counts evaluations.
    """

    def __init__(self, files: Iterable[Path | tuple[str, TrialSpec]], patients_per_arm: int,
                 settings: SolverSettings = SolverSettings(), daily: bool = True, workers: int = 1,
                 engine: str = "batch", expected_rates: bool = False) -> None:
        self.specs: list[tuple[str, TrialSpec]] = [f if isinstance(f, tuple) else (Path(f).name, load_trial(f))
                                                   for f in files]
        if isinstance(patients_per_arm, bool) or not isinstance(patients_per_arm, int | np.integer) or patients_per_arm <= 0:
            raise KetasimInputError(f"patients per arm: expected an integer > 0, got {patients_per_arm!r}")
        self.n = int(patients_per_arm)
        self.settings = settings
        self.engine = engine
        self.expected_rates = expected_rates
        self._solve = _batched_solver(engine)
        cost = {label: check_trial_size(spec, self.n, False) for label, spec in self.specs}
        self.arms = {label: [_Arm(label, spec, i, daily) for i in range(len(spec.arms))] for label, spec in self.specs}
        self.flags = {label: tuple(report(trial_flags(spec))) for label, spec in self.specs}
        self.evaluations = 0
        self._workers: list[tuple[multiprocessing.process.BaseProcess, Connection, set[str]]] = []
        if workers > 1 and len(self.specs) > 1:
            shares: list[list[tuple[str, TrialSpec]]] = [[] for _ in range(min(workers, len(self.specs)))]
            loads = [0.0] * len(shares)
            for item in sorted(self.specs, key=lambda item: -cost[item[0]]):  # largest first, to the least loaded
                k = loads.index(min(loads))
                shares[k].append(item)
                loads[k] += cost[item[0]]
            for share in shares:
                parent, child = _FRESH_PROCESSES.Pipe()
                process = _FRESH_PROCESSES.Process(target=_serve, args=(child, share, self.n, settings, daily, engine,
                                                                                 expected_rates),
                                                   daemon=True)
                process.start()
                child.close()
                self._workers.append((process, parent, {label for label, _ in share}))
            for _, conn, _ in self._workers:  # each has prepared its share
                conn.recv()

    def close(self) -> None:
        """Stop the worker processes (if any)."""
        for process, conn, _ in self._workers:
            try:
                conn.send(None)
            except (BrokenPipeError, OSError):
                pass
            process.join(timeout=10)
            if process.is_alive():
                process.terminate()
        self._workers = []

    def __enter__(self) -> CalibrationSet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def results(self, params: dict[str, float] | None = None, pop: dict[str, float] | None = None,
                names: Iterable[str] | None = None) -> dict[str, TrialResult]:
        """Every file (or those labelled `names`) run at these parameters: label -> TrialResult.

        params, pop: as run_trial's (None: the calibrated values; a dict is used as given).
        """
        params = model_values() if params is None else params
        pop = population_values() if pop is None else pop
        wanted = None if names is None else set(names)
        arms = [a for label, _ in self.specs if wanted is None or label in wanted for a in self.arms[label]]
        jobs = [ArmJob(a.spec, a.arm_index, "fast", params, pop, self.settings, a.times, keep_patients=False,
                       expected_rates=self.expected_rates) for a in arms]
        stores: list[dict[int, RunInRow]] = [{} for _ in arms]
        accepted = self._select(jobs, arms, stores)
        enrolled = [_drive(prepare_steps(job, index), lambda request, store=store: _answer(request, store))
                    for job, (index, _), store in zip(jobs, accepted, stores, strict=True)]
        models = [trial_model(job, e) for job, e in zip(jobs, enrolled, strict=True)]
        solutions = self._solve(models, [a.times.all_h for a in arms], [e.y0 for e in enrolled], self.settings)
        per_file: dict[str, dict[str, ArmResult]] = {}
        for a, job, (index, screened), e, model, sol in zip(arms, jobs, accepted, enrolled, models, solutions, strict=True):
            chunk = reduce_chunk(job, index, e, model, sol)
            per_file.setdefault(a.label, {})[a.spec.arms[a.arm_index].name] = arm_result(a.spec, a.arm_index, a.times,
                                                                                         [chunk], screened)
        self.evaluations += 1
        return {label: TrialResult(spec, per_file.get(label, {}), "fast", self.flags[label])
                for label, spec in self.specs if wanted is None or label in wanted}

    def checks(self, params: dict[str, float] | None = None, pop: dict[str, float] | None = None,
               names: Iterable[str] | None = None) -> list[TargetCheck]:
        """The published targets of every file (or those labelled `names`), in file order."""
        if not self._workers:
            results = self.results(params, pop, names)
            return [c for label, spec in self.specs if label in results for c in check_targets(spec, results[label], label)]
        wanted = {label for label, _ in self.specs} if names is None else set(names)
        asked = []
        for _, conn, labels in self._workers:
            share = labels & wanted
            if share:
                conn.send((params, pop, tuple(sorted(share))))
                asked.append(conn)
        by_label: dict[str, list[TargetCheck]] = {}
        failure = None
        for conn in asked:
            kind, value = conn.recv()
            if kind == "ok":
                by_label.update(value)
            else:
                failure = value
        if failure is not None:
            raise failure
        self.evaluations += 1
        return [c for label, _ in self.specs if label in by_label for c in by_label[label]]

    def _select(self, jobs: list[ArmJob], arms: list[_Arm], stores: list[dict[int, RunInRow]]) -> list[tuple[np.ndarray, int]]:
        """select_patients for every arm at once: each round screens every arm's next candidates,
        with the run-ins of all of them in one batched solve."""
        steps = [selection_steps(job, self.n, a.chunk_size) for job, a in zip(jobs, arms, strict=True)]
        out: list[tuple[np.ndarray, int] | None] = [None] * len(jobs)
        pending: dict[int, np.ndarray] = {}
        for k, gen in enumerate(steps):
            _start(gen, k, pending, out)
        while pending:
            screenings = {k: prepare_steps(jobs[k], index) for k, index in pending.items()}
            requests: dict[int, RunInRequest] = {}
            masks: dict[int, np.ndarray] = {}
            for k, gen in screenings.items():
                try:
                    requests[k] = next(gen)
                except StopIteration as done:
                    masks[k] = done.value.mask
            self._run_ins(jobs, requests, stores)
            for k, request in requests.items():
                masks[k] = _finish(screenings[k], _answer(request, stores[k])).mask
            for k in list(pending):
                try:
                    pending[k] = steps[k].send(masks[k])
                except StopIteration as done:
                    out[k] = done.value
                    del pending[k]
        return [o for o in out if o is not None]

    def _run_ins(self, jobs: list[ArmJob], requests: dict[int, RunInRequest], stores: list[dict[int, RunInRow]]) -> None:
        """Solve the run-ins of the requested candidates not solved yet, all arms together."""
        todo: list[tuple[int, np.ndarray, ArmModel, np.ndarray]] = []
        for k, request in requests.items():
            missing = np.array([i not in stores[k] for i in request.index.tolist()], dtype=bool)
            if missing.any():
                patients = take(request.patients, missing)
                todo.append((k, request.index[missing], run_in_model(jobs[k], request.background, patients),
                             initial_state(patients)))
        solutions = self._solve([t[2] for t in todo], [RUN_IN_TIMES] * len(todo), [t[3] for t in todo], self.settings)
        for (k, index, model, _), sol in zip(todo, solutions, strict=True):
            stores[k].update(zip(index.tolist(), run_in_rows(model, sol), strict=True))


def _serve(conn: Connection, share: list[tuple[str, TrialSpec]], n: int, settings: SolverSettings, daily: bool,
           engine: str, expected_rates: bool) -> None:
    """A worker: its share of the files prepared once, then one evaluation per message until None."""
    prepared = CalibrationSet(share, n, settings, daily, engine=engine, expected_rates=expected_rates)
    conn.send(("ready", None))
    while True:
        message = conn.recv()
        if message is None:
            break
        params, pop, names = message
        try:
            results = prepared.results(params, pop, names)
            conn.send(("ok", {label: check_targets(spec, results[label], label) for label, spec in prepared.specs
                              if label in results}))
        except Exception as err:  # the parent re-raises it
            conn.send(("error", err))
    conn.close()


def _answer(request: RunInRequest, store: dict[int, RunInRow]) -> tuple:
    return stack_run_ins([store[i] for i in request.index.tolist()], request.patients)


def _start(gen: Generator, k: int, pending: dict[int, np.ndarray], out: list) -> None:
    try:
        pending[k] = next(gen)
    except StopIteration as done:
        out[k] = done.value


def _finish(gen: Generator, value: object) -> object:
    """Send `value` to a generator that then returns; its return value."""
    try:
        gen.send(value)
    except StopIteration as done:
        return done.value
    raise RuntimeError("screening asked for a second run-in")


def _drive(gen: Generator, answer: object) -> object:
    """Run a screening generator to its end, answering each run-in request with answer(request)."""
    try:
        request = next(gen)
        while True:
            request = gen.send(answer(request))  # type: ignore[operator]
    except StopIteration as done:
        return done.value

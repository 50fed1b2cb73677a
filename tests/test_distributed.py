"""Trials on a Dask cluster: same JSON as in-process, picklable tasks, one clear error for a bad scheduler."""

from __future__ import annotations

import json
import operator
import pickle
import socket
import sys
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import numpy as np
import pytest

from ketasim.errors import KetasimInputError
from ketasim.trials.distributed import ADDRESS_ENV, make_mapper
from ketasim.trials.trial import ArmJob, in_process, run_trial, screen_chunk, select_patients, solve_chunk
from ketasim.trials.trial_spec import TrialSpec, load_trial

TRIAL = """\
name = "distributed: ketamine vs saline in TRD"
seed = 2024
patients_per_arm = 40

[population]
kind = "trd"
min_failed_treatments = 2
baseline_madrs = [22, 60]

[[arms]]
name = "ketamine"
doses = [ { drug = "ketamine", route = "iv", amount = "0.5 mg/kg", infusion = "40 min", at = "0 d" } ]

[[arms]]
name = "saline"
doses = [ { drug = "saline", route = "iv", amount = "0 mg", infusion = "40 min", at = "0 d" } ]

[endpoints]
visits = ["1 d", "3 d"]
response = "50%"
remission = 10
vitals = true

[endpoints.relapse]
at = "1 d"
madrs_at_least = 22
until = "7 d"
"""


@pytest.fixture
def spec(tmp_path: Path) -> TrialSpec:
    path = tmp_path / "trial.toml"
    path.write_text(TRIAL)
    return load_trial(path)


@pytest.fixture(scope="module")
def cluster() -> Iterator[object]:
    """Two single-threaded worker processes, so tasks really are pickled and spread."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as local:
        yield local


def _job(spec: TrialSpec, arm_index: int = 0) -> ArmJob:
    """The job simulate_arm builds for one arm (default parameters)."""
    return ArmJob.for_arm(spec, arm_index)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_tasks_survive_plain_pickle(spec: TrialSpec) -> None:
    """What goes to a worker pickles by reference (no cloudpickle needed) and gives the same result."""
    job = _job(spec)
    index = np.arange(30, dtype=np.int64)
    screen = pickle.loads(pickle.dumps(partial(screen_chunk, job)))
    assert np.array_equal(screen(index), screen_chunk(job, index))
    accepted, _ = select_patients(job, 3, chunk_size=1000)
    solve = pickle.loads(pickle.dumps(partial(solve_chunk, job)))
    remote, local = solve(accepted), solve_chunk(job, accepted)
    assert local.n == 3 and local.vitals.keys() == remote.vitals.keys() and local.patients
    for name in ("index", "status", "baseline", "relapse", "relapse_at"):
        assert np.array_equal(getattr(remote, name), getattr(local, name)), name
    for group in ("visits", "vitals", "patients"):
        here, there = getattr(local, group), getattr(remote, group)
        assert here.keys() == there.keys(), group
        for key in here:
            assert np.array_equal(there[key], here[key]), (group, key)


@pytest.mark.slow
def test_cluster_trial_matches_in_process(spec: TrialSpec, cluster: object) -> None:
    local = run_trial(spec, show_progress=False)
    with make_mapper(cluster.scheduler_address) as mapper:  # type: ignore[attr-defined]
        remote = run_trial(spec, mapper=mapper, chunk_size=10, show_progress=False)
    assert json.dumps(remote.to_json(), sort_keys=True) == json.dumps(local.to_json(), sort_keys=True)
    for name, arm in local.arms.items():
        assert np.array_equal(remote.arms[name].candidate_index, arm.candidate_index)
        assert np.array_equal(remote.arms[name].visits, arm.visits)


@pytest.mark.slow
def test_client_object_and_env_address(cluster: object, monkeypatch: pytest.MonkeyPatch) -> None:
    """An existing client is used and left open; an address from the environment is connected and closed."""
    distributed = pytest.importorskip("distributed")
    with distributed.Client(cluster, set_as_default=False) as client:

        def n_clients() -> int:
            return int(client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.clients)))

        with make_mapper(client) as mapper:
            assert list(mapper(operator.neg, list(range(25)))) == [-i for i in range(25)]
        assert client.status == "running"
        before = n_clients()
        monkeypatch.setenv(ADDRESS_ENV, cluster.scheduler_address)  # type: ignore[attr-defined]
        with make_mapper() as mapper:
            assert n_clients() == before + 1
            assert list(mapper(operator.neg, [3, 1, 2])) == [-3, -1, -2]
        deadline = time.monotonic() + 5.0
        while n_clients() != before and time.monotonic() < deadline:
            time.sleep(0.05)
        assert n_clients() == before


def test_no_address_runs_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ADDRESS_ENV, raising=False)
    for address in (None, ""):
        with make_mapper(address) as mapper:
            assert mapper is in_process
            assert list(mapper(operator.neg, [1, 2])) == [-1, -2]


@pytest.mark.parametrize("address", ["tcp://127.0.0.1:{port}", "tcp://no-port-here", "nosuch://x:1"])
def test_bad_address_is_one_clear_error(address: str) -> None:
    pytest.importorskip("distributed")
    address = address.format(port=_free_port())
    start = time.monotonic()
    with pytest.raises(KetasimInputError, match="cannot connect to the Dask scheduler at") as err:
        with make_mapper(address, timeout_s=1.0):
            pass
    assert repr(address) in str(err.value)
    assert time.monotonic() - start < 8.0


def test_missing_dask_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    with pytest.raises(KetasimInputError, match=r"ketasim\[distributed\]"):
        with make_mapper("tcp://127.0.0.1:8786"):
            pass

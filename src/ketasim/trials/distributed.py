"""Run trial chunks on a Dask cluster: `make_mapper` gives the Mapper that `run_trial(..., mapper=...)` takes.

Without an address (and without ``DASK_SCHEDULER_ADDRESS``) chunks run in this process. With one,
chunks go to the scheduler's workers and come back in order, one at a time, so progress can be
reported as they arrive. Workers need ketasim (same version) installed: tasks are
``partial(screen_chunk, job)`` / ``partial(solve_chunk, job)`` over candidate index arrays, sent by
reference to ketasim's functions. Results do not depend on how chunks are spread over workers,
because every patient's numbers are a function of (seed, arm, candidate index) alone.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ketasim.errors import KetasimInputError
from ketasim.trials.trial import Mapper, in_process

if TYPE_CHECKING:
    from distributed import Client

#: environment variable read when no address is given (the variable Dask itself reads)
ADDRESS_ENV = "DASK_SCHEDULER_ADDRESS"
CONNECT_TIMEOUT_S = 10.0


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError as err:
        raise KetasimInputError(
            f"running on a Dask scheduler needs dask and distributed ({err}); install ketasim[distributed] "
            "(pip install 'ketasim[distributed]'), or leave the scheduler out to run in this process") from None
    return distributed


def _connect(distributed: Any, address: str, timeout_s: float) -> Client:
    """A client of the scheduler at `address`, or one KetasimInputError naming it."""
    try:
        # check the address first: Client() leaves a half-built client behind on a malformed one
        distributed.comm.resolve_address(address)
        return distributed.Client(address, timeout=timeout_s, set_as_default=False)
    except (OSError, TimeoutError, ValueError, TypeError) as err:
        reason = str(err).strip() or type(err).__name__
        raise KetasimInputError(f"cannot connect to the Dask scheduler at {address!r}: {reason} (expected the "
                                "address of a running `dask scheduler`, such as tcp://host:8786)") from None


def client_mapper(client: Client) -> Mapper:
    """A Mapper that submits every item to `client` at once and yields the results in item order."""

    def mapper(function: Callable, items: list) -> Iterator:
        futures = client.map(function, list(items), pure=False)
        return _in_order(client, futures)

    return mapper


def _in_order(client: Client, futures: list) -> Iterator:
    """Results of `futures` in order, each as soon as it (and those before it) is done."""
    try:
        for future in futures:
            yield client.gather(future)
    finally:
        # a failed or abandoned map must not keep the cluster busy
        client.cancel([f for f in futures if not f.done()])


@contextmanager
def make_mapper(address: str | Client | None = None, *, timeout_s: float = CONNECT_TIMEOUT_S) -> Iterator[Mapper]:
    """The Mapper for `address`: in-process, a new client of a scheduler, or an existing `distributed.Client`.

    None (or "") falls back to ``DASK_SCHEDULER_ADDRESS``, then to the in-process ``map``. A client
    made here from an address is closed on exit; a client passed in is left open (its owner closes it).
    """
    if address is None or address == "":
        address = os.environ.get(ADDRESS_ENV, "").strip() or None
    if address is None:
        yield in_process  # the in-process map, run_trial's default
        return
    distributed = _import_distributed()
    if isinstance(address, distributed.Client):
        yield client_mapper(address)
        return
    if not isinstance(address, str):
        raise KetasimInputError(f"scheduler: expected an address such as tcp://host:8786 or a distributed.Client, "
                                f"got {address!r}")
    client = _connect(distributed, address, timeout_s)
    try:
        yield client_mapper(client)
    finally:
        client.close()

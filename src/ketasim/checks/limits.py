"""Size limits checked before a run: horizon, number of doses, patients, memory; and a progress heartbeat.

Documented maxima (README, docs/): a simulated period of at most MAX_HORIZON_D days, at most
MAX_DOSES dose events per patient, at most MAX_PATIENTS_PER_ARM patients per arm, and an
estimated memory use within MEMORY_FRACTION of the memory available when the run starts.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from ketasim.errors import KetasimInputError
from ketasim.model.regimen import Regimen

#: longest simulated period (days): two years, beyond any trial in the calibration set (14 weeks)
MAX_HORIZON_D = 730.0
#: most dose events per patient (each is a solver boundary and, in `simulate`, 72 output rows)
MAX_DOSES = 20_000
#: most virtual patients per arm
MAX_PATIENTS_PER_ARM = 10_000_000
#: share of the available memory a run may plan to use
MEMORY_FRACTION = 0.7
#: a run estimated to take longer than this (s) shows a heartbeat on stderr
HEARTBEAT_AFTER_S = 5.0


def check_horizon(hours: float, where: str) -> None:
    """Refuse a non-finite, negative or too long time (h)."""
    if not (math.isfinite(hours) and hours >= 0):
        raise KetasimInputError(f"{where}: expected a finite time >= 0, got {hours:g} h")
    if hours > MAX_HORIZON_D * 24.0:
        raise KetasimInputError(f"{where}: {hours / 24.0:g} d is beyond the longest period ketasim simulates "
                                f"({MAX_HORIZON_D:g} d); shorten it")


def count_doses(regimen: Regimen, horizon_h: float) -> int:
    """Dose events up to `horizon_h` (h), counted without listing them."""
    total = 0
    for d in regimen.doses:
        if d.every_h is None:
            total += sum(1 for t in d.times_h if t <= horizon_h)
            continue
        end = horizon_h if d.until_h is None else min(d.until_h, horizon_h)
        if end >= d.from_h:
            total += math.floor((end - d.from_h) / d.every_h + 1e-9) + 1
    return total


def check_dose_count(regimen: Regimen, horizon_h: float, where: str) -> int:
    """Refuse more than MAX_DOSES dose events up to `horizon_h`; returns the count."""
    count = count_doses(regimen, horizon_h)
    if count > MAX_DOSES:
        raise KetasimInputError(f"{where}: {count:,} doses within {horizon_h / 24.0:g} d exceed the limit of "
                                f"{MAX_DOSES:,} per patient (memory and time); dose less often or simulate a shorter period")
    return count


def available_memory_bytes() -> int:
    """Memory available to a new run (bytes): MemAvailable on Linux, else physical memory, else 8 GiB."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, OSError, ValueError):
        return 8 * 2**30


def check_memory(estimate_bytes: float, what: str, lower: str) -> None:
    """Refuse a run whose estimated memory exceeds MEMORY_FRACTION of physical memory; `lower` says how to shrink it."""
    limit = MEMORY_FRACTION * available_memory_bytes()
    if estimate_bytes > limit:
        raise KetasimInputError(f"{what} would need about {estimate_bytes / 2**30:,.1f} GiB of memory, more than the "
                                f"{limit / 2**30:.1f} GiB allowed here ({MEMORY_FRACTION:.0%} of the memory available "
                                f"now); {lower}")


def simulate_estimate(regimen: Regimen, days: float) -> tuple[float, float]:
    """(memory bytes, seconds) of one `simulate` run with the reference engine: rough, for refusing and warning."""
    doses = count_doses(regimen, days * 24.0)
    rows = days * 24.0 + 73.0 * doses
    columns = 16 + 4 * max(len(regimen.drugs), 1)
    memory = 2e8 + rows * columns * 8.0 * 6.0
    seconds = 0.5 + 0.004 * days * max(len(regimen.drugs), 1) + 0.01 * doses
    return memory, seconds


def check_simulate(regimen: Regimen, days: float, where: str = "simulate") -> float:
    """Refuse a simulation beyond the documented limits; returns its estimated time (s)."""
    check_horizon(days * 24.0, f"{where}: days")
    check_dose_count(regimen, days * 24.0, f"{where}: regimen {regimen.name or ''}".rstrip())
    memory, seconds = simulate_estimate(regimen, days)
    check_memory(memory, f"{where}: this simulation", "simulate fewer days or dose less often")
    return seconds


def trial_estimate(n_total: int, days: float, visits: int, with_course: bool) -> tuple[float, float]:
    """(memory bytes, seconds) of a trial of `n_total` patients over `days` days: rough, for refusing and warning."""
    per_patient = 1500.0 + 8.0 * visits + (4.0 * days if with_course else 0.0)
    memory = 3.5e8 + n_total * per_patient
    seconds = n_total * (0.2 + days / 84.0) / 600.0
    return memory, seconds


@contextmanager
def heartbeat(label: str, estimate_s: float, every_s: float = 5.0) -> Iterator[None]:
    """While the block runs, print '<label>: N s elapsed' on stderr every `every_s` s (when estimated > HEARTBEAT_AFTER_S)."""
    if estimate_s <= HEARTBEAT_AFTER_S:
        yield
        return
    print(f"ketasim: {label}: estimated {estimate_s:.0f} s", file=sys.stderr)
    done = threading.Event()
    start = time.perf_counter()

    def beat() -> None:
        while not done.wait(every_s):
            print(f"ketasim: {label}: {time.perf_counter() - start:.0f} s elapsed", file=sys.stderr)

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()

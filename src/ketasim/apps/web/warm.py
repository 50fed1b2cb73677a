"""Imported once by the fork server of the web workers: every run forks from a process that has ketasim
loaded and warmed up (a tiny trial and simulation), so a run starts in milliseconds instead of seconds."""

from __future__ import annotations

import os
from importlib import resources

from .. import runner
from .jobs import die_with_parent


def warm_up() -> None:
    """Run a 2-patient trial and a 1-day simulation (loads every lazily imported piece); errors are ignored."""
    try:
        text = (resources.files("ketasim.apps.web") / "static" / "example-trial.toml").read_text()
        runner.run_trial_text(text, "warm-up.toml", patients_per_arm=2)
        runner.run_simulation(runner.SimulationRequest("ketamine-iv-single", days=1.0))
    except Exception:  # a warm-up only: the real run reports any error
        pass


die_with_parent(os.getppid(), kernel=False)  # the fork server ends with the server (and so its workers)
warm_up()

"""The shipped format documents stay in step with the parsers, and the README tour runs as written."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from ketasim import read_nonmem_csv
from ketasim.apps.cli import main
from ketasim.apps.inputs import load_regimen
from ketasim.model.patient import load_patient
from ketasim.model.regimen import Regimen
from ketasim.trials.trial_spec import load_trial

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
_BLOCK = re.compile(r"^```(\w+) (\w+)\n(.*?)^```", re.S | re.M)


def _examples() -> list[tuple[str, str, str]]:
    """(document, kind, text) of every tagged example (```toml trial, ```toml regimen, ```toml patient, ```csv nonmem)."""
    return [(path.name, m.group(2), m.group(3)) for path in sorted(DOCS.glob("*.md"))
            for m in _BLOCK.finditer(path.read_text())]


def test_every_format_is_documented_with_examples() -> None:
    kinds = {kind for _, kind, _ in _examples()}
    assert kinds == {"trial", "regimen", "patient", "nonmem"}


@pytest.mark.parametrize(("document", "kind", "text"), _examples(), ids=lambda v: str(v)[:30])
def test_every_example_in_the_docs_parses(tmp_path: Path, document: str, kind: str, text: str) -> None:
    path = tmp_path / ("example.csv" if kind == "nonmem" else "example.toml")
    path.write_text(text)
    if kind == "trial":
        assert load_trial(path).arms
    elif kind == "regimen":
        assert isinstance(load_regimen(str(path)), Regimen)
    elif kind == "patient":
        assert load_patient(str(path)).weight_kg > 0
    else:
        assert read_nonmem_csv(path)


#: small sizes for the tour's slow commands (the tour is run as written otherwise)
_SMALL = {"trial": ["--patients-per-arm", "3"], "validate": ["--patients-per-arm", "3"],
          "calibrate": ["--patients-per-arm", "3", "--max-evaluations", "4"], "demo": ["--days", "4"]}


def _tour() -> list[list[str]]:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## A short tour"):]
    block = section[section.index("```bash\n") + 8:]
    block = block[:block.index("```")]
    return [shlex.split(line.split("  #")[0])[1:] for line in block.splitlines() if line.startswith("ketasim ")]


def test_readme_tour_runs_end_to_end_in_a_clean_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    from ketasim.trials.validate import shipped_calibration_dir

    monkeypatch.chdir(tmp_path)
    commands = _tour()
    assert len(commands) >= 10 and all("../shared" not in " ".join(c) for c in commands)
    for argv in commands:
        argv = [a for a in argv]
        if "--patients-per-arm" in argv:  # replaced by the small size
            i = argv.index("--patients-per-arm")
            del argv[i:i + 2]
        if argv[0] == "validate":  # one file is enough to run the command as written
            argv.append(str(shipped_calibration_dir() / "murrough-2013-ajp.toml"))
        if argv[0] == "calibrate":
            argv.append(str(shipped_calibration_dir() / "vitals-and-dissociation.toml"))
        argv += _SMALL.get(argv[0], [])
        assert main(argv) == 0, (argv, capsys.readouterr().err)
    assert (tmp_path / "ketasim-demo" / "demo.png").is_file() and (tmp_path / "run.png").is_file()
    assert (tmp_path / "results" / "summary.json").is_file() and (tmp_path / "calibrated.toml").is_file()

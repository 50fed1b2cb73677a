"""The two tables of docs/validation.md (per file, per target) from a validation run and a cross-validation run.

    ketasim validate --json > validate.json
    ketasim validate FILES --cross-validate ... > cross-validation.txt
    python benchmarks/validation_tables.py validate.json cross-validation.txt > tables.md

In-sample values (with their 95% sampling interval) come from the JSON; out-of-sample values from the
cross-validation's per-target lines, matched to the JSON's targets by file and order within the file.
"""

from __future__ import annotations

import json
import re
import sys
from collections import defaultdict
from pathlib import Path

#: a per-target line of the cross-validation text: file, ..., published, in-sample, out-of-sample, tolerance
CV_ROW = re.compile(r"^(\S+\.toml)\s.*?\s(-?[\d.]+)\s+(-?[\d.e+-]+\*?)\s+(-?[\d.e+-]+\*?|-)\s+([\d.]+)$")
NOTES = {"abbar-2022": "- (SI: not cross-validated)", "canuso-2018": "- (SI: not cross-validated)",
         "grunebaum-2018": "- (SI: not cross-validated)", "price-2014": "- (SI: not cross-validated)",
         "diazgranados-2010": "- (bipolar depression: own section, not in this CV run)",
         "feder-2021": "- (PTSD: own section, not in this CV run)",
         "vitals-and-dissociation": "- (always in training)"}


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.3g}"


def out_of_sample(cv_text: str) -> dict[str, list[tuple[str, bool]]]:
    """file stem -> [(out-of-sample value, passed)] in the order of the file's targets."""
    rows: dict[str, list[tuple[str, bool]]] = defaultdict(list)
    for line in cv_text.splitlines():
        m = CV_ROW.match(line.rstrip())
        if m and m.group(4) != "-":
            rows[m.group(1).removesuffix(".toml")].append((m.group(4).rstrip("*"), not m.group(4).endswith("*")))
    return rows


def main(argv: list[str]) -> int:
    targets = json.loads(Path(argv[0]).read_text())["targets"]
    cv = out_of_sample(Path(argv[1]).read_text())
    by_file: dict[str, list[dict]] = defaultdict(list)
    for t in targets:
        by_file[Path(t["file"]).stem].append(t)
    print("| file | targets | in-sample (files' own sizes) | out-of-sample (CV, 400/arm) |\n|---|---|---|---|")
    total = passed = cv_total = cv_passed = 0
    for stem in sorted(by_file):
        ts = by_file[stem]
        ok = sum(t["pass"] for t in ts)
        total, passed = total + len(ts), passed + ok
        if stem in cv and len(cv[stem]) == len(ts):
            cv_ok = sum(p for _, p in cv[stem])
            cv_total, cv_passed = cv_total + len(ts), cv_passed + cv_ok
            cell = f"{cv_ok}/{len(ts)}"
        else:
            cell = NOTES.get(stem, "-")
        print(f"| {stem} | {len(ts)} | {ok}/{len(ts)} | {cell} |")
    print(f"| **all** | {total} | **{passed}/{total}** | **{cv_passed}/{cv_total}** |\n")
    print("| file | arm | visit | metric | published | in-sample [95% sampling interval] | out-of-sample | tolerance |")
    print("|---|---|---|---|---|---|---|---|")
    for stem in sorted(by_file):
        rows = cv.get(stem, [])
        for i, t in enumerate(by_file[stem]):
            arm = " + ".join(t["arm"]) if isinstance(t["arm"], list) else t["arm"]
            if "versus" in t:
                arm += " vs " + (" + ".join(t["versus"]) if isinstance(t["versus"], list) else t["versus"])
            ci = t.get("simulated_ci")
            inside = f"{_num(t['simulated'])}" + (f" [{_num(ci[0])}, {_num(ci[1])}]" if ci else "")
            inside += "" if t["pass"] else " **MISS**"
            if len(rows) == len(by_file[stem]):
                value, ok = rows[i]
                outside = f"{float(value):.3g}" + ("" if ok else " **MISS**")
            else:
                outside = "-"
            print(f"| {stem} | {arm} | {t['visit'] or '-'} | {t['metric']} | {_num(t['published'])} | {inside} | "
                  f"{outside} | {_num(t['tolerance'])} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

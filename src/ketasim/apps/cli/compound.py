"""Subcommand `compound` (export a shipped compound file; check a compound file and print its screening
card) and the `--compound FILE` option of `simulate`, `trial`, `validate` and `forecast` (docs/compound-file.md)."""

from __future__ import annotations

import argparse
import json
import math
from typing import TYPE_CHECKING, Any

import numpy as np

import ketasim as ks
from ketasim.disclaimer import DISCLAIMER
from ketasim.errors import KetasimInputError
from ketasim.io.jsonsafe import finite_json
from ketasim.model.drugs import (
    ROUTES,
    SESSION_ROUTES,
    SHIPPED,
    DrugSpec,
    NoPk,
    register_compound_file,
    shipped_compound_text,
)
from ketasim.model.patient import stack_patients

if TYPE_CHECKING:
    from .common import Subparsers

#: dose of the screening card by route when --dose is not given
DEFAULT_DOSE: dict[str, str] = {"iv": "0.5 mg/kg", "intranasal": "56 mg", "oral": "20 mg", "im": "0.5 mg/kg",
                                "sc": "0.5 mg/kg", "sublingual": "20 mg", "oral_er": "20 mg"}
IV_INFUSION = "40 min"
#: twice weekly over 4 weeks (the induction schedule of esketamine and of Singh JB et al. 2016)
TWICE_WEEKLY: tuple[str, ...] = ("0 d", "3 d", "7 d", "10 d", "14 d", "17 d", "21 d", "24 d")
#: once a day for 4 weeks (days 0-27): the course of a drug taken at home (oral, sublingual, extended release)
DAILY: tuple[str, ...] = tuple(f"{day} d" for day in range(28))
VISITS: tuple[str, ...] = ("1 d", "28 d")
DESIGNS: dict[str, tuple[str, ...]] = {"single dose": ("0 d",), "twice weekly": TWICE_WEEKLY}


def designs(route: str) -> dict[str, tuple[str, ...]]:
    """The card's designs by route: single dose and twice weekly; a route taken at home (not given in a
    dosing session: oral, sublingual, oral_er) adds a daily course."""
    return DESIGNS if route in SESSION_ROUTES else {**DESIGNS, "daily": DAILY}


def add_compound_option(p: argparse.ArgumentParser) -> None:
    """`--compound FILE` (repeatable): load compound files before the command runs."""
    p.add_argument("--compound", action="append", default=[], metavar="FILE", dest="compound_files",
                   help="load a compound file (docs/compound-file.md) so its name can be dosed; repeatable")


def register_compounds(args: argparse.Namespace) -> None:
    """Register the files of `--compound` (if the command has the option)."""
    for path in getattr(args, "compound_files", []) or []:
        register_compound_file(path)


def _add(subparsers: Subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("compound", help="export or check a compound file",
                              description="Compound files (docs/compound-file.md): `export NAME` prints a shipped "
                                          "one; `check FILE` validates one and prints its screening card.")
    sub = p.add_subparsers(dest="compound_action", required=True, metavar="ACTION")
    e = sub.add_parser("export", help="print a shipped compound's file")
    e.add_argument("name", choices=SHIPPED, metavar="NAME", help=f"one of: {', '.join(SHIPPED)}")
    c = sub.add_parser("check", help="validate a compound file and print its screening card",
                       description="Validate a compound file; print PK at a dose (typical TRD patient), peak NMDA "
                                   "occupancy, dissociation and systolic rise, and the predicted MADRS change versus "
                                   "placebo (95%% interval) in a TRD trial, single dose and twice weekly (and daily "
                                   "for oral, sublingual and oral_er), day 1 and 28.")
    c.add_argument("file", metavar="FILE")
    c.add_argument("--route", choices=ROUTES, help="route (default: the file's first)")
    c.add_argument("--dose", metavar="AMOUNT", help="dose, e.g. '0.5 mg/kg' or '56 mg' (default by route: "
                   + ", ".join(f"{r} {d}" for r, d in DEFAULT_DOSE.items()) + f"; iv infused over {IV_INFUSION})")
    c.add_argument("--infusion", metavar="DURATION", default=IV_INFUSION,
                   help=f"iv only: infusion duration (default {IV_INFUSION}; an inhaled gas written as iv: the inhalation time)")
    c.add_argument("--patients", type=int, default=200, metavar="N", help="virtual patients per arm (default 200)")
    c.add_argument("--no-trial", action="store_true", help="skip the MADRS trials (PK and peaks only)")
    c.add_argument("--json", action="store_true", help="print the card as JSON")
    return p


def _run(args: argparse.Namespace) -> int:
    if args.compound_action == "export":
        print(shipped_compound_text(args.name), end="")
        return 0
    spec = register_compound_file(args.file)
    if isinstance(spec.pk, NoPk) or not spec.routes:
        raise KetasimInputError(f"{args.file}: routes: an inert compound (no PK) has no screening card")
    route = args.route or spec.routes[0]
    if route not in spec.routes:
        raise KetasimInputError(f"--route: {spec.name} has no route {route!r}; its routes: {', '.join(spec.routes)}")
    if isinstance(args.patients, bool) or args.patients < 2:
        raise KetasimInputError(f"--patients: expected an integer >= 2, got {args.patients}")
    if args.infusion != IV_INFUSION and route != "iv":
        raise KetasimInputError(f"--infusion: applies to route iv only, not {route}")
    amount = args.dose or DEFAULT_DOSE[route]
    card = screening_card(spec, route, amount, args.patients, trials=not args.no_trial, infusion=args.infusion)
    card["file"] = args.file
    if args.json:
        print(json.dumps(finite_json(card), indent=2))
    else:
        print(card_text(card))
    return 0


def _dose(spec: DrugSpec, route: str, amount: str, at: list[str] | str, infusion: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"drug": spec.name, "route": route, "amount": amount, "at": at}
    if route == "iv":
        entry["infusion"] = infusion
    return entry


def _pk_days(spec: DrugSpec, route: str) -> float:
    """Long enough for about five of the slowest half-lives of a typical patient (2 to 28 days)."""
    patient = stack_patients([ks.typical_patient("typical-trd")])
    system = spec.pk.build_pk(route, patient)
    if system is None:
        return 2.0
    slowest = float(np.min(np.abs(np.linalg.eigvals(system.rate_matrix[0]).real)))
    return float(np.clip(math.ceil(5.0 * math.log(2.0) / max(slowest, 1e-9) / 24.0), 2.0, 28.0))


def _pk_metrics(t: np.ndarray, c: np.ndarray) -> dict[str, float]:
    """Cmax (ng/mL), Tmax (h), AUC to infinity (ng h/mL; log-linear tail) and terminal half-life (h)."""
    i = int(np.argmax(c))
    tail = (t >= t[i] + 0.7 * (t[-1] - t[i])) & (c > 0)
    half = slope = math.nan
    if np.sum(tail) >= 3:
        slope = float(np.polyfit(t[tail], np.log(c[tail]), 1)[0])
        half = math.log(2.0) / -slope if slope < 0 else math.inf
    auc = float(np.trapezoid(c, t)) + (float(c[-1]) / -slope if slope < 0 else 0.0)
    return {"cmax_ng_ml": float(c[i]), "tmax_h": float(t[i]), "auc_ng_h_ml": auc, "half_life_h": half}


def screening_card(spec: DrugSpec, route: str, amount: str, patients: int, trials: bool = True,
                   infusion: str = IV_INFUSION) -> dict[str, Any]:
    """The screening card of a registered compound at one dose by one route (a JSON-ready dict); iv doses are
    infused over `infusion`."""
    days = _pk_days(spec, route)
    dense = np.arange(0.0, 48.0, 2.0 / 60.0)
    times = np.unique(np.concatenate([dense, np.arange(48.0, days * 24.0 + 1e-9, 0.5)]))
    regimen = ks.Regimen.of(ks.dose(spec.name, route, amount, at="0 d",
                                    **({"infusion": infusion} if route == "iv" else {})))
    table = ks.simulate(regimen, "typical-trd", days=days, times_h=times)
    t = table["time_h"].to_numpy()
    pk = {c[len("plasma_"):-len("_ng_ml")]: _pk_metrics(t, table[c].to_numpy())
          for c in table.columns if c.startswith("plasma_")}
    card: dict[str, Any] = {
        "compound": spec.name, "route": route, "dose": amount + (f" over {infusion}" if route == "iv" else ""),
        "patient": "typical-trd", "pk": pk,
        "peak_nmda_occupancy": float(table["nmda_occupancy"].max()),
        "peak_sert_occupancy": float(table["sert_occupancy"].max()),
        "peak_dissociation_cadss": float(table["cadss"].max()),
        "peak_systolic_rise_mmhg": float(table["sbp_mmhg"].max() - table["sbp_mmhg"].iloc[0]),
        "not_modelled": not_modelled(spec),
    }
    if trials:
        card["madrs_change_vs_placebo"], card["patients_per_arm"] = _trials(spec, route, amount, patients, infusion)
    card["disclaimer"] = DISCLAIMER
    return card


def not_modelled(spec: DrugSpec) -> list[str]:
    """The file's `other_targets` (species.S.other_targets.T: carried, no term in the model), as 'S T'."""
    found: list[str] = []
    for key in spec.parameters:
        parts = key.split(".")
        if len(parts) >= 4 and parts[0] == "species" and parts[2] == "other_targets":
            label = f"{parts[1]} {parts[3]}"
            if label not in found:
                found.append(label)
    return found


def _trials(spec: DrugSpec, route: str, amount: str, patients: int, infusion: str) -> tuple[dict[str, Any], int]:
    """MADRS change from baseline, compound minus placebo, per design and visit (normal 95% interval)."""
    arms = []
    chosen = designs(route)
    for design, at in chosen.items():
        at_value: list[str] | str = list(at) if len(at) > 1 else at[0]
        arms.append({"name": design, "doses": [_dose(spec, route, amount, at_value, infusion)]})
        placebo = {"drug": "placebo", "route": route, "amount": "0 mg", "at": at_value}
        arms.append({"name": f"{design}: placebo", "doses": [placebo]})
    data = {"name": f"screening of {spec.name}", "seed": 28, "patients_per_arm": patients,
            "population": {"kind": "trd", "baseline_madrs": [22, 60]}, "arms": arms,
            "endpoints": {"visits": list(VISITS), "response": "50%", "remission": 10}}
    spec_trial = ks.parse_trial(data, f"screening trial of {spec.name}")
    result = ks.run_trial(spec_trial, show_progress=False, keep_patients=False)
    out: dict[str, Any] = {}
    for design in chosen:
        active, placebo = result.arms[design], result.arms[f"{design}: placebo"]
        out[design] = {}
        for v, visit in enumerate(VISITS):
            a = active.visits[v] - active.baseline
            p = placebo.visits[v] - placebo.baseline
            a, p = a[np.isfinite(a)], p[np.isfinite(p)]
            diff = float(np.mean(a) - np.mean(p))
            se = math.sqrt(np.var(a, ddof=1) / a.size + np.var(p, ddof=1) / p.size)
            out[design][visit] = {"mean": diff, "low": diff - 1.96 * se, "high": diff + 1.96 * se}
    return out, patients


def card_text(card: dict[str, Any]) -> str:
    """The screening card as text."""
    lines = [f"{card['compound']} ({card.get('file', '')}): {card['dose']} {card['route']}, typical TRD patient"]
    lines.append(f"  {'output':<20} {'Cmax ng/mL':>11} {'Tmax h':>8} {'AUC ng h/mL':>12} {'t1/2 h':>8}")
    for name, m in card["pk"].items():
        lines.append(f"  {name:<20} {m['cmax_ng_ml']:>11.4g} {m['tmax_h']:>8.3g} {m['auc_ng_h_ml']:>12.4g} "
                     f"{m['half_life_h']:>8.3g}")
    lines.append(f"  peak NMDA occupancy {card['peak_nmda_occupancy']:.3f}; peak SERT occupancy "
                 f"{card['peak_sert_occupancy']:.3f}")
    lines.append(f"  peak dissociation {card['peak_dissociation_cadss']:.1f} CADSS points; peak systolic rise "
                 f"{card['peak_systolic_rise_mmhg']:.1f} mmHg")
    if card.get("not_modelled"):
        lines.append(f"  carried, not modelled (no term in the model): {', '.join(card['not_modelled'])}")
    if "madrs_change_vs_placebo" in card:
        lines.append(f"  MADRS change vs placebo (TRD, {card['patients_per_arm']} patients per arm, 95% interval):")
        for design, visits in card["madrs_change_vs_placebo"].items():
            text = "; ".join(f"day {visit.split()[0]}: {v['mean']:+.1f} ({v['low']:+.1f} to {v['high']:+.1f})"
                             for visit, v in visits.items())
            lines.append(f"    {design:<13} {text}")
    lines.append(DISCLAIMER)
    return "\n".join(lines)


COMMANDS = {"compound": (_add, _run)}

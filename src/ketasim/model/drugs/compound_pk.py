"""The generic PK builder of compound files: 1-3 compartment linear PK per parent, depots, metabolites,
effect sites, for N patients (amounts in mg, effect sites in mg/L; docs/compound-file.md).

States, per parent in the file's order: its depots (nasal, gut), central, peripherals, then per
metabolite its central and peripherals, then the effect sites (parent, metabolites). A parent's states
are named ``<state_prefix>_<state>`` (no prefix when empty).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ketasim.errors import KetasimInputError
from ketasim.model.drugs.base import CompartmentInput, DrugSpec, NoPk, PkSystem, PkVariability
from ketasim.model.drugs.compound_file import Compound, Disposition, Parent, Quantity, Route

LN2 = 0.6931471805599453


def logit_fraction(typical: float, shift: np.ndarray | float) -> np.ndarray:
    """A fraction varied on the logit scale: the typical value's logit plus the patient's shift."""
    return 1.0 / (1.0 + np.exp(-(np.log(typical / (1.0 - typical)) + shift)))


@dataclass(frozen=True)
class _Chain:
    """Indices of one parent's states in the system."""

    nasal: int | None
    gut: int | None
    central: int
    central_volume: np.ndarray


class CompoundPk:
    """Plug-in of a compound file: builds each route's system and expands doses into compartment inputs."""

    def __init__(self, compound: Compound) -> None:
        self.compound = compound

    # ---- scaled values ----------------------------------------------------------------------
    def _w(self, patient: dict[str, np.ndarray]) -> np.ndarray:
        return patient["weight_kg"] / self.compound.reference_weight_kg

    def _scaled(self, q: Quantity, patient: dict[str, np.ndarray], exponent: float) -> np.ndarray:
        w = self._w(patient)
        out = q.si * (w if exponent == 1.0 else w**exponent) if exponent else np.full(len(w), q.si)
        for field in q.variability:
            out = out * patient[field]
        return out

    def _volume(self, q: Quantity, patient: dict[str, np.ndarray]) -> np.ndarray:
        return self._scaled(q, patient, self.compound.volume_exponent)

    def _flow(self, q: Quantity, patient: dict[str, np.ndarray]) -> np.ndarray:
        return self._scaled(q, patient, self.compound.clearance_exponent)

    def _rate(self, q: Quantity, patient: dict[str, np.ndarray]) -> np.ndarray:
        return self._scaled(q, patient, 0.0)

    def hepatic(self, d: Disposition, patient: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Clearance (L/h) and hepatic availability (1): well-stirred liver, or the clearance and 1."""
        assert d.clearance is not None
        if d.hepatic_flow is None:
            return self._flow(d.clearance, patient), np.ones(len(patient["weight_kg"]))
        qh_typical, cl_typical = d.hepatic_flow.si, d.clearance.si
        cl_int = cl_typical * qh_typical / (qh_typical - cl_typical)
        qh = qh_typical
        if d.hepatic_loss_per_year is not None:
            age0 = d.hepatic_loss_from_age.si if d.hepatic_loss_from_age else 0.0
            qh = qh - d.hepatic_loss_per_year.si * np.maximum(patient["age_y"] - age0, 0.0)
        w = self._w(patient) ** self.compound.clearance_exponent
        qh = qh * w
        for field in d.hepatic_flow.variability:
            qh = qh * patient[field]
        cl_int = cl_int * w
        for field in d.clearance.variability:
            cl_int = cl_int * patient[field]
        return qh * cl_int / (qh + cl_int), qh / (qh + cl_int)

    def _fill(self, rate: np.ndarray, c: int, periph: list[int], d: Disposition,
              patient: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Distribution and elimination from central state `c`; returns (central volume, clearance)."""
        v1 = self._volume(d.central_volume, patient)
        if d.half_life is not None:
            typical = LN2 * d.central_volume.si / d.half_life.si
            cl = self._flow(Quantity(d.half_life.parameter, typical, d.half_life.variability), patient)
        else:
            cl, _ = self.hepatic(d, patient)
        total = cl
        qs = [(self._volume(v, patient), self._flow(q, patient)) for v, q in d.peripheral]
        for _, q in qs:
            total = total + q
        rate[:, c, c] = -total / v1
        for p, (vp, q) in zip(periph, qs, strict=True):
            rate[:, p, c] = q / v1
            rate[:, c, p] = q / vp
            rate[:, p, p] = -q / vp
        return v1, cl

    # ---- the plug-in --------------------------------------------------------------------------
    def _layout(self, route: Route) -> list[str]:
        names: list[str] = []
        for parent in route.parents:
            pre = f"{parent.state_prefix}_" if parent.state_prefix else ""
            if route.absorption.kind == "nasal":
                names.append(f"{pre}nasal_depot_mg")
            if route.absorption.kind == "first_order" or (route.absorption.kind == "nasal"
                                                          and route.absorption.swallowed_ka is not None):
                names.append(f"{pre}gut_depot_mg")
            names += _cmt_names(pre, len(parent.disposition.peripheral))
            for m in parent.metabolites:
                names += _cmt_names(f"{pre}{m.state_prefix}_", len(m.disposition.peripheral))
            sites = [(parent.species, "")] + [(m.species, f"{m.state_prefix}_") for m in parent.metabolites]
            for species, mpre in sites:
                if self.compound.species[species].ke0 is not None:
                    names.append(f"{pre}{mpre}{self.compound.species[species].site_state}_mg_l")
        return names

    def build_pk(self, route_name: str, patient: dict[str, np.ndarray]) -> PkSystem | None:
        route = self.compound.routes.get(route_name)
        if route is None:
            return None
        names = self._layout(route)
        n = len(patient["weight_kg"])
        rate = np.zeros((n, len(names), len(names)))
        plasma: dict[str, list[tuple[int, np.ndarray]]] = {}
        terms: dict[str, list[tuple[int, float]]] = {"nmda": [], "sert": [], "sedation": [], "nmda_mg": []}
        i = 0
        for parent in route.parents:
            i = self._fill_parent(rate, i, route, parent, patient, plasma, terms)
        return PkSystem(self.compound.name, tuple(names), rate, plasma, nmda_terms=terms["nmda"],
                        sert_terms=terms["sert"], sedation_terms=terms["sedation"], nmda_mg_terms=terms["nmda_mg"])

    def _fill_parent(self, rate: np.ndarray, i: int, route: Route, parent: Parent, patient: dict[str, np.ndarray],
                     plasma: dict[str, list[tuple[int, np.ndarray]]], terms: dict[str, list[tuple[int, float]]]) -> int:
        a = route.absorption
        depots: list[tuple[int, np.ndarray]] = []
        if a.kind == "nasal":
            depots.append((i, self._rate(a.ka, patient)))  # type: ignore[arg-type]
            i += 1
        if a.kind == "first_order" or (a.kind == "nasal" and a.swallowed_ka is not None):
            ka = a.ka if a.kind == "first_order" else a.swallowed_ka
            depots.append((i, self._rate(ka, patient)))  # type: ignore[arg-type]
            i += 1
        c = i
        periph = list(range(c + 1, c + 1 + len(parent.disposition.peripheral)))
        i = c + 1 + len(periph)
        for depot, ka in depots:
            rate[:, depot, depot] = -ka
            rate[:, c, depot] = ka
        v1, cl = self._fill(rate, c, periph, parent.disposition, patient)
        plasma.setdefault(parent.output or self.compound.name, []).append((c, 1000.0 / v1))
        sources = [(parent.species, c, v1)]
        first_pass = first_pass_shares(route, parent)
        if first_pass:  # the gut depot drains into the parent (its share) and, formed in first pass, its metabolites
            depot, ka = depots[-1]
            rate[:, c, depot] = ka * first_pass[0]
        for k, m in enumerate(parent.metabolites):
            mc = i
            mp = list(range(mc + 1, mc + 1 + len(m.disposition.peripheral)))
            i = mc + 1 + len(mp)
            rate[:, mc, c] = m.fraction_formed.si * cl / v1
            if first_pass:
                rate[:, mc, depot] = ka * first_pass[k + 1]
            mv, _ = self._fill(rate, mc, mp, m.disposition, patient)
            plasma.setdefault(m.output, []).append((mc, 1000.0 / mv))
            sources.append((m.species, mc, mv))
        for species, src, v in sources:
            sp = self.compound.species[species]
            if sp.ke0 is None:
                continue
            ke0 = sp.ke0.si
            partition = sp.partition.si if sp.partition else 1.0
            rate[:, i, src] = ke0 * partition / v
            rate[:, i, i] = -ke0
            for kind, q in (("nmda", sp.nmda), ("sert", sp.sert), ("sedation", sp.sedation)):
                if q is not None:
                    terms[kind].append((i, q.si))
            if sp.nmda is not None and sp.nmda_rest > 0.0:  # the potency left at rest under Mg2+: Ki / share
                terms["nmda_mg"].append((i, sp.nmda.si / sp.nmda_rest))
            i += 1
        return i

    def dose_inputs(self, route_name: str, system: PkSystem, amount_mg: np.ndarray, time_h: float, duration_h: float,
                    patient: dict[str, np.ndarray]) -> list[CompartmentInput]:
        route = self.compound.routes[route_name]
        a = route.absorption
        names = system.state_names
        inputs: list[CompartmentInput] = []
        for parent in route.parents:
            pre = f"{parent.state_prefix}_" if parent.state_prefix else ""
            amount = amount_mg * parent.dose_fraction.si
            if a.kind == "intravenous":
                inputs.append(CompartmentInput(time_h, names.index(f"{pre}central_mg"), amount, duration_h))
            elif a.kind == "first_order":
                f = a.bioavailability.si if a.bioavailability else 1.0
                if first_pass_shares(route, parent):  # the depot also holds what first pass turns into metabolites
                    assert a.first_pass_to_metabolites is not None
                    f = f + (1.0 - f) * a.first_pass_to_metabolites.si
                lag = a.lag.si if a.lag else 0.0
                release = a.release_duration.si if a.release_duration else 0.0
                inputs.append(CompartmentInput(time_h + lag, names.index(f"{pre}gut_depot_mg"), amount * f, release))
            else:
                inputs += self._spray(parent, pre, names, amount, time_h, patient)
        return inputs

    def _spray(self, parent: Parent, pre: str, names: tuple[str, ...], amount_mg: np.ndarray, time_h: float,
               patient: dict[str, np.ndarray]) -> list[CompartmentInput]:
        """Devices `device` mg apart by `device_interval`: the nasal fraction to the nasal depot, the rest
        swallowed (gut availability x hepatic availability) into the gut depot over `duration`."""
        a = self.compound.routes["intranasal"].absorption
        assert a.nasal_fraction is not None
        if a.device is not None and a.device_interval is not None:
            size, interval = a.device.si, a.device_interval.si
            total = float(np.max(amount_mg)) if np.size(amount_mg) else 0.0
            n_devices = max(1, int(np.ceil(total / size - 1e-9)))
        else:
            size, interval, n_devices = np.inf, 0.0, 1
        shift = sum((patient.get(f, 0.0) for f in a.nasal_fraction.variability), 0.0)
        typical = logit_fraction(a.nasal_fraction.si, shift)
        later = a.later_device_factor.si if a.later_device_factor else 1.0
        if a.swallowed_ka is not None:
            _, hepatic = self.hepatic(parent.disposition, patient) if parent.disposition.clearance is not None \
                else (None, 1.0)
        inputs = []
        for k in range(n_devices):
            device_amount = np.minimum(np.maximum(amount_mg - k * size, 0.0), size) if n_devices > 1 or \
                np.isfinite(size) else amount_mg
            fr = typical * (later if k else 1.0)
            t = time_h + k * interval
            inputs.append(CompartmentInput(t, names.index(f"{pre}nasal_depot_mg"), device_amount * fr, 0.0))
            if a.swallowed_ka is not None:
                gut = a.gut_availability.si if a.gut_availability else 1.0
                swallowed = device_amount * (1.0 - fr) * gut * hepatic
                duration = a.swallowed_duration.si if a.swallowed_duration else 0.0
                inputs.append(CompartmentInput(t, names.index(f"{pre}gut_depot_mg"), swallowed, duration))
        return inputs


def first_pass_shares(route: Route, parent: Parent) -> tuple[float, ...]:
    """Shares of a first-order gut depot reaching the parent's central compartment and each of its metabolites'.

    The depot holds dose x (F + (1 - F) x first_pass_to_metabolites): the bioavailable part F and the part of
    the first-pass loss (1 - F) that enters the circulation as metabolites, split between the parent's
    metabolites by their `fraction_formed`. Empty when the route has no first-pass formation of metabolites.
    """
    a = route.absorption
    fp = a.first_pass_to_metabolites.si if a.first_pass_to_metabolites else 0.0
    total_fm = sum(m.fraction_formed.si for m in parent.metabolites)
    f = a.bioavailability.si if a.bioavailability else 1.0
    if a.kind != "first_order" or fp <= 0.0 or total_fm <= 0.0 or f >= 1.0:
        return ()
    lost = (1.0 - f) * fp
    depot = f + lost
    return (f / depot, *tuple(lost * m.fraction_formed.si / total_fm / depot for m in parent.metabolites))


def _cmt_names(pre: str, n_periph: int) -> list[str]:
    periph = ["periph_mg"] if n_periph == 1 else [f"periph{k + 1}_mg" for k in range(n_periph)]
    return [f"{pre}central_mg"] + [f"{pre}{p}" for p in periph]


def compound_spec(compound: Compound, known: dict[str, PkVariability], cmt: dict[str, int]) -> DrugSpec:
    """The registry entry of a compound: its parameters, targets, CMT numbers and variability fields.

    `known` holds the variability fields already declared by registered drugs (a file may use them
    without declaring them); `cmt` the CMT numbers to use for routes the file gives none.
    """
    declared = {d.name: PkVariability(d.name, d.cv_name, d.cv, d.description, d.scale) for d in compound.variability}
    fields: list[PkVariability] = list(declared.values())
    for name in compound.variability_used:
        if name in declared:
            continue
        if name not in known:
            raise KetasimInputError(
                f"{compound.source}: variability: field {name!r} is neither declared in the file ([variability.{name}]) "
                f"nor by a shipped drug; known fields: {', '.join(known) or 'none'}")
        fields.append(known[name])
    scales = {v.name: v.scale for v in fields}
    for route in compound.routes.values():
        nasal = route.absorption.nasal_fraction
        if nasal is not None and any(scales[f] != "logit" for f in nasal.variability):
            raise KetasimInputError(f"{compound.source}: routes.intranasal.absorption.nasal_fraction.variability: "
                                    "expected logit-scale fields only")
    routes = tuple(compound.routes) or compound.inert_routes
    pk: CompoundPk | NoPk = CompoundPk(compound) if compound.routes else NoPk()
    return DrugSpec(compound.name, compound.description, routes, compound.action, dict(compound.perceptible_cue),
                    dict(compound.parameters), pk, cmt={r: cmt.get(r, compound.cmt.get(r, 0)) for r in routes},
                    targets=dict(compound.targets), variability=tuple(fields), source_file=compound.source)

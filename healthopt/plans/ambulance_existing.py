"""The existing network in the ambulance plan: floors for ``expand``, the fixed layout of ``evaluate``.

``plans.ambulances.mode`` (issue 13):

* ``greenfield`` — the layer's stations stay open but their fleet is planned afresh
  (the behaviour before modes existed);
* ``expand`` — the layer's ambulances and negative-pressure ambulances are floors; the
  plan adds stations and vehicles to meet the norms within the budgets. How far existing
  ambulances may move is ``relocate``:

  - ``false``: every existing station keeps at least its ambulances (and NP ambulances)
    at its site; with ``allow_closing`` a station may close, and its ambulances then stay
    in its district;
  - ``within_district``: each district keeps at least the existing ambulances of its stations;
  - ``free``: only the city total of existing ambulances is kept;

* ``evaluate`` — the layer's layout (stations and vehicles) as it is: no optimisation,
  no norm or budget constraint; the plan result holds exactly the layer's vehicles and
  the tables show how far it meets the norms.

The station table says what is added where: ``vehicles_existing``, ``vehicles_added``
(negative where ``relocate`` moved ambulances away), ``np_existing``, ``np_added``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from healthopt.milp.problem import MilpProblem
from healthopt.milp.solve import SolverOutput

if TYPE_CHECKING:  # the rules call this module: their type stays a name here (no import cycle)
    AmbulanceRules = Any

__all__ = ["EXISTING_COLUMNS", "add_existing", "existing_by_district", "existing_columns", "existing_notes",
           "existing_reasons", "existing_totals", "fixed_layout", "relocate_rule", "start_floors"]

#: Station-table columns of the existing network, kept in the ``stations`` layer (GeoPackage, map, CSV).
EXISTING_COLUMNS: tuple[str, ...] = (
    "station_id", "vehicles_existing", "vehicles_added", "np_existing", "np_added", "opened", "crew",
)  # fmt: skip

#: What ``relocate`` values mean, as the report says it.
RELOCATE_WORDS = {
    "none": "every existing station keeps at least its ambulances",
    "within_district": "existing ambulances may move between stations of the same district",
    "free": "existing ambulances may move anywhere in the study area",
}


def relocate_rule(value: Any) -> str:
    """Return the internal rule name of a scenario ``relocate`` value (``false`` -> ``"none"``)."""
    return "none" if value is False or value is None else str(value)


def existing_fleet(rules: AmbulanceRules) -> tuple[np.ndarray, np.ndarray]:
    """Return the existing ambulances and NP ambulances per site (0 where nothing exists)."""
    s = rules.sites
    v = s["vehicles_existing"].to_numpy(int) if "vehicles_existing" in s else np.zeros(len(s), int)
    n = s["np_existing"].to_numpy(int) if "np_existing" in s else np.zeros(len(s), int)
    keep = s["existing"].to_numpy(bool)
    return np.where(keep, v, 0), np.where(keep, n, 0)


def start_floors(rules: AmbulanceRules) -> tuple[np.ndarray, np.ndarray]:
    """Return the ambulances and NP ambulances the greedy start places first (expand: the existing fleet)."""
    if rules.mode != "expand":
        zero = np.zeros(len(rules.sites), int)
        return zero, zero
    return existing_fleet(rules)


def existing_reasons(rules: AmbulanceRules) -> list[str]:
    """Explain, before solving, why ``expand`` cannot keep the existing fleet within the fleet budget."""
    if rules.mode != "expand":
        return []
    v, _ = existing_fleet(rules)
    if rules.max_vehicles is not None and int(v.sum()) > rules.max_vehicles:
        return [f"the existing stations hold {int(v.sum())} ambulances, which mode expand keeps; the fleet "
                f"budget (max_vehicles) allows {rules.max_vehicles}"]
    if rules.relocate == "free":
        return []
    # Kept in their districts, the existing ambulances add to the other districts' norms.
    kept = pd.Series(v).groupby(rules.sites["district_code"].to_numpy()).sum()
    norm = rules.norms.set_index("code")["min_vehicles"]
    need = int(sum(max(int(norm.get(c, 0)), int(kept.get(c, 0))) for c in set(norm.index) | set(kept.index)))
    if need <= rules.fleet_cap:
        return []
    over = [(str(rules.norms.set_index("code")["name_zh"].get(c, c)), int(k), int(norm.get(c, 0)))
            for c, k in kept.items() if k > norm.get(c, 0)]
    shown = ", ".join(f"{name} keeps {k} against a norm of {n}" for name, k, n in over[:3])
    return [f"mode expand keeps the existing ambulances in their districts ({shown}; relocate: "
            f"{'false' if rules.relocate == 'none' else rules.relocate}): with every district's norm that is "
            f"{need} ambulances, the fleet budget allows {rules.fleet_cap} (relocate: free lets them move)"]


def add_existing(rules: AmbulanceRules, p: MilpProblem) -> None:
    """Add the existing fleet as floors (``mode: expand``), under the ``relocate`` rule.

    Parameters
    ----------
    rules : AmbulanceRules
        With ``vehicles_existing`` / ``np_existing`` on its sites.
    p : MilpProblem
        The ambulance model with its ``open``, ``v`` and ``n`` blocks.
    """
    v0, n0 = existing_fleet(rules)
    at = np.flatnonzero(v0 > 0)
    if at.size == 0:
        return
    rule, ns = rules.relocate, len(rules.sites)
    districts = rules.sites["district_code"].to_numpy()
    if rule == "none" and not rules.allow_closing:
        p.set_bounds("v", lb=v0[at].astype(float), index=at)
        p.set_bounds("n", lb=n0[at].astype(float), index=at)
        return
    if rule == "none":  # a station either stays with its fleet or closes, its fleet staying in its district
        pick = sp.csr_matrix((np.ones(at.size), (np.arange(at.size), at)), shape=(at.size, ns))
        for block, floor, what in (("v", v0, "ambulances"), ("n", n0, "negative-pressure ambulances")):
            with_floor = -sp.csr_matrix(pick.multiply(floor[None, :]))
            p.add_constraints(f"existing_{block}_station", {block: pick, "open": with_floor}, lb=0.0, relaxable=False,
                              description=f"an existing station that stays open keeps its {what}")
    if rule in ("none", "within_district"):
        codes = list(pd.unique(districts[at]))
        pos = {c: k for k, c in enumerate(codes)}
        rows = np.array([pos.get(c, -1) for c in districts])
        ok = rows >= 0
        D = sp.csr_matrix((np.ones(ok.sum()), (rows[ok], np.flatnonzero(ok))), shape=(len(codes), ns))
        for block, floor, what in (("v", v0, "ambulances"), ("n", n0, "negative-pressure ambulances")):
            p.add_constraints(f"existing_{block}_district", {block: D}, lb=(D @ floor).astype(float),
                              relaxable=False, description=f"every district keeps its existing {what}")
        return
    ones = np.ones((1, ns))
    for block, floor, what in (("v", v0, "ambulances"), ("n", n0, "negative-pressure ambulances")):
        p.add_constraints(f"existing_{block}_total", {block: ones}, lb=float(floor.sum()), relaxable=False,
                          description=f"the study area keeps its existing {what}")


def fixed_layout(rules: AmbulanceRules) -> tuple[MilpProblem, SolverOutput]:
    """Return the layer's layout as a solved plan (``mode: evaluate``): exactly its vehicles, nothing else.

    The "problem" holds the ``open``, ``v`` and ``n`` blocks fixed at the layer's figures,
    so that the plan's result tables (capacity breakdown, districts, KPIs) are computed
    for it as for any solved plan.
    """
    v0, n0 = existing_fleet(rules)
    ns = len(rules.sites)
    p = MilpProblem("ambulances_evaluate", "max")
    opened = (v0 > 0).astype(float)
    p.add_variables("open", ns, lb=opened, ub=opened, integer=True)
    p.add_variables("v", ns, lb=v0.astype(float), ub=v0.astype(float), integer=True)
    p.add_variables("n", ns, lb=n0.astype(float), ub=n0.astype(float), integer=True)
    x = np.concatenate([opened, v0, n0]).astype(float)
    out = SolverOutput("optimal", "evaluated as given (mode evaluate: the layer's layout, not optimised)",
                       x, None, None, None, 0.0, "none")
    return p, out


def existing_columns(rules: AmbulanceRules, stations: pd.DataFrame) -> pd.DataFrame:
    """Add what the plan adds per station: ``vehicles_added`` and ``np_added`` (existing: 0 before)."""
    s = stations.copy()
    for col in ("vehicles_existing", "np_existing"):
        s[col] = s[col].fillna(0).astype(int) if col in s else 0
    s.loc[~s["existing"].astype(bool), ["vehicles_existing", "np_existing"]] = 0
    s["vehicles_added"] = s["vehicles"] - s["vehicles_existing"]
    s["np_added"] = s["negative_pressure"] - s["np_existing"]
    return s


def existing_by_district(rules: AmbulanceRules, districts: pd.DataFrame) -> pd.DataFrame:
    """Add each district's existing ambulances (``amb_existing``, closed stations included) and ``amb_added``."""
    v0, _ = existing_fleet(rules)
    held = pd.Series(v0).groupby(rules.sites["district_code"].to_numpy()).sum()
    out = districts.copy()
    out["amb_existing"] = out["code"].map(held).fillna(0).astype(int)
    out["amb_added"] = out["amb_planned"] - out["amb_existing"]
    return out


def existing_totals(rules: AmbulanceRules, stations: pd.DataFrame) -> dict[str, Any]:
    """Fleet before and after: existing ambulances (all layer stations), added, stations kept and closed."""
    v0, n0 = existing_fleet(rules)
    had = rules.sites["existing"].to_numpy(bool)
    kept = set(stations.loc[stations["existing"].astype(bool), "site_id"])
    fleet, npv = int(stations["vehicles"].sum()), int(stations["negative_pressure"].sum())
    return {
        "fleet_existing": int(v0.sum()), "fleet_added": fleet - int(v0.sum()),
        "np_existing": int(n0.sum()), "np_added": npv - int(n0.sum()),
        "stations_existing": int(had.sum()), "stations_closed": int(had.sum()) - len(kept),
    }  # fmt: skip


def existing_notes(rules: AmbulanceRules, stations: pd.DataFrame) -> list[str]:
    """Say what the mode did with the existing network, and name the stations it closed."""
    if not rules.sites["existing"].any():
        return []
    t = existing_totals(rules, stations)
    if rules.mode == "evaluate":
        out = [f"Mode evaluate: the existing layout as given ({t['stations_existing']} stations, "
               f"{t['fleet_existing']} ambulances, {t['np_existing']} negative-pressure); nothing optimised, "
               "norms are reported, not imposed."]
    elif rules.mode == "expand":
        out = [f"Mode expand: the {t['fleet_existing']} existing ambulances ({t['np_existing']} negative-pressure) "
               f"are kept ({RELOCATE_WORDS[rules.relocate]}); the plan adds {t['fleet_added']} ambulances and "
               f"{t['np_added']} negative-pressure ambulances and opens {int((stations['status'] == 'new').sum())} "
               "new station(s)."]
    else:
        out = [f"Mode greenfield: the {t['stations_existing']} existing stations are kept as sites, but their "
               f"fleet ({t['fleet_existing']} ambulances in the layer) is planned afresh."]
    if t["stations_closed"]:
        kept = set(stations["site_id"])
        gone = rules.sites[rules.sites["existing"].astype(bool) & ~rules.sites["site_id"].isin(kept)]
        names = [str(n) if isinstance(n, str) and n else str(i) for n, i in zip(gone["name"], gone["site_id"],
                                                                                strict=True)]
        out.append(f"{len(names)} existing station(s) closed (allow_closing): {', '.join(names[:20])}"
                   f"{' …' if len(names) > 20 else ''}.")
    return out

r"""Ambulance availability from workload: calls, busy fractions and the hypercube fixed point.

The expected covering model needs the probability that an ambulance is busy. Instead of a
constant, it is derived from the workload of each dispatch region:

* expected calls per demand point, residents × the call rate of its class (urban district
  or county) per 1,000 residents per year (:func:`healthopt.queueing.calls.expected_calls`);
* the region's busy fraction, calls × mean service time ÷ (vehicles × one year)
  (:func:`healthopt.queueing.hypercube.busy_fraction`);
* for a given plan, station-specific busy probabilities from Larson's hypercube
  approximation (:func:`healthopt.queueing.hypercube.hypercube_approx`), calls going to the
  nearest free vehicle of their region.

Dispatch regions: the urban districts share one city dispatch (001: one city-wide
network), each county (and Gujiao) dispatches its own fleet; calls are not served across
regions in this model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from healthopt.queueing.calls import MINUTES_PER_YEAR, expected_calls
from healthopt.queueing.hypercube import busy_fraction, correction_factors, hypercube_approx, preference_lists

__all__ = ["URBAN_REGION", "StationLoad", "Workload"]

#: Name of the dispatch region of the urban districts.
URBAN_REGION = "urban"

#: Travel time given to a vehicle of the region that cannot reach a point within the
#: travel-time cutoff: it is ranked after every reachable one.
_FAR_MINUTES = 1e6


@dataclass(frozen=True)
class StationLoad:
    """Busy probabilities of one plan's stations (hypercube approximation per region).

    Attributes
    ----------
    busy : ndarray
        Per site: share of time its ambulances are busy (mean over its vehicles; 0 where
        the plan has none).
    calls : ndarray
        Per site: expected calls per year its ambulances serve (queued calls excluded).
    region_busy : dict of str to float
        Per dispatch region: calls × service time ÷ (vehicles × year).
    """

    busy: np.ndarray
    calls: np.ndarray
    region_busy: dict[str, float]


class Workload:
    """Calls per demand point and the busy fractions they imply.

    Parameters
    ----------
    demand : DataFrame
        ``district_code, population`` per demand point.
    norms : DataFrame
        ``code, norm_class`` per district.
    minutes : scipy.sparse.csr_matrix
        Sites × demand travel times.
    site_district : ndarray
        District code of every site.
    rates_per_1000 : dict, optional
        Calls per 1,000 residents per year by class (``urban`` / ``county``); default the
        norms table (flagged ``estimate``).
    service_minutes : float
        Mean time a vehicle is busy per call (dispatch to available again).
    """

    def __init__(self, *, demand: pd.DataFrame, norms: pd.DataFrame, minutes: sp.csr_matrix,
                 site_district: np.ndarray, rates_per_1000: dict[str, float] | None,
                 service_minutes: float) -> None:
        cls = norms.set_index("code")["norm_class"]
        self.norm_class = demand["district_code"].map(cls).fillna("county").to_numpy(object)
        self.calls = expected_calls(residents=demand["population"].to_numpy(float), norm_class=self.norm_class,
                                    rates_per_1000=rates_per_1000)
        self.service_minutes = float(service_minutes)
        self.region_of = {c: (URBAN_REGION if k == "urban" else c) for c, k in cls.items()}
        self.demand_region = demand["district_code"].map(self.region_of).fillna("").to_numpy(object)
        self.site_region = pd.Series(site_district).map(self.region_of).fillna("").to_numpy(object)
        self.minutes = sp.csr_matrix(minutes)
        # the last plan's load: a fixed point asks for it again (spare vehicles, result columns)
        self._last_load: tuple[bytes, StationLoad] | None = None

    def region_calls(self) -> dict[str, float]:
        """Return the expected calls per year of each dispatch region."""
        return pd.Series(self.calls).groupby(self.demand_region).sum().to_dict()

    def region_busy(self, vehicles: dict[str, int]) -> dict[str, float]:
        """Busy fraction of each region for its fleet: calls × service ÷ (vehicles × year)."""
        calls = self.region_calls()
        return {r: busy_fraction(calls=calls.get(r, 0.0), service_minutes=self.service_minutes,
                                 vehicles=max(int(n), 1), period_minutes=MINUTES_PER_YEAR)
                for r, n in vehicles.items()}

    def region_fleet(self, fleet_by_district: dict[str, int]) -> dict[str, int]:
        """Vehicles per dispatch region from vehicles per district."""
        out: dict[str, int] = {}
        for code, n in fleet_by_district.items():
            r = self.region_of.get(code, code)
            out[r] = out.get(r, 0) + int(n)
        return out

    def correction(self, region_busy: dict[str, float], fleet: dict[str, int], regions: np.ndarray,
                   levels: int) -> np.ndarray:
        r"""Return Larson's correction :math:`Q(N_r, \rho_r, k)` for each row's region, ``k < levels``."""
        out = np.ones((regions.size, max(int(levels), 1)))
        for r in pd.unique(regions):
            n, rho = int(fleet.get(r, 0)), float(region_busy.get(r, 0.0))
            if n < 1 or not 0.0 < rho < 1.0:
                continue
            q = correction_factors(units=n, utilisation=rho)
            q = np.concatenate([q, np.full(max(out.shape[1] - q.size, 0), q[-1])])[: out.shape[1]]
            out[regions == r] = q
        return out

    def station_load(self, v: np.ndarray) -> StationLoad:
        """Hypercube busy probabilities of the plan ``v`` (vehicles per site), region by region."""
        v = np.asarray(v, dtype=np.int64)
        key = v.tobytes()
        if self._last_load is not None and self._last_load[0] == key:
            return self._last_load[1]
        load = self._station_load(v)
        load.busy.flags.writeable = load.calls.flags.writeable = False  # shared with later callers
        self._last_load = (key, load)
        return load

    def _station_load(self, v: np.ndarray) -> StationLoad:
        busy = np.zeros(v.size)
        served = np.zeros(v.size)
        fleet = {}
        rho_r = {}
        mu = 1.0 / self.service_minutes
        for r in pd.unique(self.site_region[v > 0]):
            st = np.flatnonzero((self.site_region == r) & (v > 0))
            atoms = np.flatnonzero((self.demand_region == r) & (self.calls > 0))
            units = np.repeat(np.arange(st.size), v[st])
            fleet[r] = int(units.size)
            lam = self.calls[atoms] / MINUTES_PER_YEAR  # calls per minute
            rho_r[r] = float(lam.sum()) / (units.size * mu)
            if atoms.size == 0:
                continue
            if rho_r[r] >= 0.999:  # more calls than the region's vehicles serve: all busy (no steady state)
                busy[st] = 1.0
                served[st] = self.calls[atoms].sum() * v[st] / units.size
                continue
            t = self.minutes[st][:, atoms].T.tocoo()  # atoms × stations
            dense = np.full((atoms.size, st.size), _FAR_MINUTES)
            dense[t.row, t.col] = t.data
            prefs = preference_lists(travel_minutes=dense, unit_station=units)
            hc = hypercube_approx(call_rates=lam, preferences=prefs, service_rate=mu)
            busy[st] = np.bincount(units, weights=hc.busy, minlength=st.size) / v[st]
            served[st] = np.bincount(units, weights=hc.unit_workload(call_rates=lam), minlength=st.size) \
                * MINUTES_PER_YEAR
        return StationLoad(busy=busy, calls=served, region_busy=rho_r)

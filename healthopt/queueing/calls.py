r"""Emergency calls as demand: call rates, service times and dispatch delays.

Defaults are rows of the norms table (``healthopt/geodata/taiyuan/tables/norms.csv``,
keys ``ambulance.calls_per_1000.*``, ``ambulance.service_minutes.*``,
``ambulance.dispatch_delay_minutes.*``) with their sources; the call rates and the service
time are flagged ``estimate`` there (no Taiyuan 120 statistic is published), and every
output built on them should say so.

Expected calls per demand point :math:`j` over a period of :math:`T` years:

.. math:: \Lambda_j = P_j \, r_{k(j)} / 1000 \cdot T

with :math:`P_j` residents and :math:`r_k` the rate per 1,000 residents per year of the
point's class (urban district or county).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from healthopt.scenario.defaults import norm_float, norm_row

__all__ = [
    "MINUTES_PER_YEAR",
    "DispatchDelay",
    "ServiceTime",
    "call_rate_per_1000",
    "call_rate_quality",
    "expected_calls",
    "hourly_profile",
]

#: 365 days, in minutes: the simulated year.
MINUTES_PER_YEAR = 365.0 * 24.0 * 60.0

_Z95 = 1.6448536269514722  # standard normal 95th percentile


def call_rate_per_1000(*, norm_class: str) -> float:
    """Default emergency calls per 1,000 residents per year for ``"urban"`` or ``"county"``."""
    return norm_float(f"ambulance.calls_per_1000.{norm_class}")


def call_rate_quality() -> str:
    """Quality flag of the default call rates (``estimate`` unless the table says better)."""
    flags = {norm_row(f"ambulance.calls_per_1000.{k}").quality for k in ("urban", "county")}
    return "estimate" if "estimate" in flags else min(flags)


def expected_calls(
    *,
    residents: Sequence[float] | np.ndarray,
    norm_class: Sequence[str] | np.ndarray,
    rates_per_1000: dict[str, float] | None = None,
    years: float = 1.0,
) -> np.ndarray:
    r"""Return the expected emergency calls per demand point.

    Parameters
    ----------
    residents : array-like
        Residents :math:`P_j` of each demand point.
    norm_class : array-like of str
        Class of each point (``"urban"`` or ``"county"``, the keys of ``rates_per_1000``).
    rates_per_1000 : dict, optional
        Calls per 1,000 residents per year by class; default from the norms table.
    years : float
        Length :math:`T` of the period.

    Returns
    -------
    ndarray
        :math:`\Lambda_j = P_j r_{k(j)} T / 1000`.

    Examples
    --------
    >>> expected_calls(residents=[1000, 2000], norm_class=["urban", "county"],
    ...                rates_per_1000={"urban": 20.0, "county": 10.0}).tolist()
    [20.0, 20.0]
    """
    pop = np.asarray(residents, dtype=float)
    cls = np.asarray(norm_class, dtype=object)
    if pop.shape != cls.shape:
        raise ValueError("residents and norm_class must have the same length")
    if np.any(pop < 0) or not np.all(np.isfinite(pop)):
        raise ValueError("residents must be finite and >= 0")
    rates = dict(rates_per_1000) if rates_per_1000 is not None else {}
    out = np.empty(pop.shape, dtype=float)
    for k in set(cls.tolist()):
        rate = rates[k] if k in rates else call_rate_per_1000(norm_class=str(k))
        mask = cls == k
        out[mask] = pop[mask] * float(rate) / 1000.0 * years
    return out


def hourly_profile(*, weights: Sequence[float] | np.ndarray | None = None) -> np.ndarray:
    r"""Relative call intensity for each hour of the day, scaled to mean 1.

    Parameters
    ----------
    weights : sequence of 24 floats, optional
        Any non-negative weights (calls per hour in some observed day, say); ``None``
        gives the flat profile (no default profile is sourced for Taiyuan).

    Returns
    -------
    ndarray
        24 factors :math:`f_h` with :math:`\frac{1}{24}\sum_h f_h = 1`; the rate in hour
        :math:`h` is :math:`f_h` times the mean rate, so a day's expected calls are unchanged.
    """
    if weights is None:
        return np.ones(24)
    w = np.asarray(weights, dtype=float)
    if w.shape != (24,) or np.any(w < 0) or not np.all(np.isfinite(w)) or w.sum() <= 0:
        raise ValueError("an hourly profile needs 24 finite non-negative weights, not all zero")
    return w * (24.0 / w.sum())


@dataclass(frozen=True)
class ServiceTime:
    r"""Time a vehicle is busy per call: dispatch to available again, in minutes.

    Parameters
    ----------
    mean_minutes : float
        Mean :math:`E[S]`; default the norms row ``ambulance.service_minutes.mean``.
    distribution : {"exponential", "lognormal"}
        Exponential (the queueing models' assumption) or lognormal with coefficient of
        variation ``cv``: :math:`\sigma^2 = \ln(1 + cv^2)`, :math:`\mu = \ln E[S] - \sigma^2/2`.
    cv : float
        Coefficient of variation of the lognormal; default ``ambulance.service_minutes.cv``.
    """

    mean_minutes: float = field(default_factory=lambda: norm_float("ambulance.service_minutes.mean"))
    distribution: Literal["exponential", "lognormal"] = "exponential"
    cv: float = field(default_factory=lambda: norm_float("ambulance.service_minutes.cv"))

    def __post_init__(self) -> None:
        if not (self.mean_minutes > 0 and math.isfinite(self.mean_minutes)):
            raise ValueError(f"mean service time must be > 0 minutes, got {self.mean_minutes!r}")
        if self.distribution not in ("exponential", "lognormal"):
            raise ValueError(f"unknown service-time distribution {self.distribution!r}")
        if self.distribution == "lognormal" and not self.cv > 0:
            raise ValueError(f"lognormal service time needs cv > 0, got {self.cv!r}")

    @property
    def rate_per_minute(self) -> float:
        r"""Service rate :math:`\mu = 1 / E[S]`."""
        return 1.0 / self.mean_minutes

    def sample(self, *, rng: np.random.Generator, size: int) -> np.ndarray:
        """Draw ``size`` service times (minutes)."""
        if self.distribution == "exponential":
            return rng.exponential(self.mean_minutes, size)
        sigma2 = math.log1p(self.cv**2)
        mu = math.log(self.mean_minutes) - sigma2 / 2.0
        return rng.lognormal(mu, math.sqrt(sigma2), size)


@dataclass(frozen=True)
class DispatchDelay:
    r"""Call received to ambulance leaving, in minutes.

    Parameters
    ----------
    mean_minutes : float
        Mean delay; default ``ambulance.dispatch_delay_minutes.mean``.
    p95_minutes : float
        95th percentile; default ``ambulance.dispatch_delay_minutes.p95`` (national
        guidance: 95 % dispatched within 3 minutes).
    distribution : {"lognormal", "constant"}
        ``constant`` uses the mean for every call; ``lognormal`` matches both the mean and
        the 95th percentile: :math:`\sigma` solves
        :math:`\ln(p_{95}/m) = z_{0.95}\sigma - \sigma^2/2` (smaller root), and
        :math:`\mu = \ln m - \sigma^2/2`.
    """

    mean_minutes: float = field(default_factory=lambda: norm_float("ambulance.dispatch_delay_minutes.mean"))
    p95_minutes: float = field(default_factory=lambda: norm_float("ambulance.dispatch_delay_minutes.p95"))
    distribution: Literal["lognormal", "constant"] = "lognormal"

    def __post_init__(self) -> None:
        if not (self.mean_minutes >= 0 and math.isfinite(self.mean_minutes)):
            raise ValueError(f"dispatch delay must be >= 0 minutes, got {self.mean_minutes!r}")
        if self.distribution not in ("lognormal", "constant"):
            raise ValueError(f"unknown dispatch-delay distribution {self.distribution!r}")
        if self.distribution == "lognormal":
            self.lognormal_parameters()  # fail early on an impossible mean / p95 pair

    def lognormal_parameters(self) -> tuple[float, float]:
        """Return ``(mu, sigma)`` of the lognormal with this mean and 95th percentile."""
        m, q = self.mean_minutes, self.p95_minutes
        if not (m > 0 and q > m):
            raise ValueError(f"a lognormal dispatch delay needs 0 < mean < p95, got {m!r} and {q!r}")
        d = math.log(q / m)
        disc = _Z95**2 - 2.0 * d
        if disc < 0:
            raise ValueError(f"no lognormal has mean {m} and 95th percentile {q} (p95 too far above the mean)")
        sigma = _Z95 - math.sqrt(disc)
        return math.log(m) - sigma**2 / 2.0, sigma

    def sample(self, *, rng: np.random.Generator, size: int) -> np.ndarray:
        """Draw ``size`` delays (minutes); ``constant`` draws nothing from ``rng``."""
        if self.distribution == "constant" or self.mean_minutes == 0:
            return np.full(size, float(self.mean_minutes))
        mu, sigma = self.lognormal_parameters()
        return rng.lognormal(mu, sigma, size)

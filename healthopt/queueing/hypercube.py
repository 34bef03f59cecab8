r"""Larson's hypercube queueing model: station-specific busy probabilities.

Units (vehicles) :math:`i = 1..N` serve demand points ("atoms") :math:`j` with Poisson call
rates :math:`\lambda_j`; each call goes to the first free unit of its atom's preference
list :math:`a_{j1}, a_{j2}, \dots` (nearest available by travel time, ties by station then
unit index) and waits in one FIFO queue when all are busy. Service times are exponential
with a common rate :math:`\mu`.

* :func:`hypercube_exact` (Larson 1974) solves the :math:`2^N`-state Markov chain of which
  units are busy, for :math:`N \le 10` by default. The queue states all have every unit
  busy; their mass is :math:`P_{full} \rho^k` with :math:`\rho = \lambda/(N\mu)`, so the
  chain is solved as a loss system and the full state is scaled by :math:`1/(1-\rho)`.
* :func:`hypercube_approx` is Larson's (1975) approximation with the M/M/N correction
  factor, in the infinite-queue form (Jarvis 1985 generalises it to unit-specific service
  times; here the rate is common). The busy probabilities solve the fixed point

  .. math::

      \rho_i = \frac{1}{\mu}\Big[(1-\rho_i)\sum_{k=1}^{N}\sum_{j: a_{jk}=i}
          \lambda_j\, Q(N,\rho,k-1) \prod_{l<k}\rho_{a_{jl}}
          \;+\; \frac{\lambda P_N}{N}\Big],

  where :math:`P_N` is the Erlang C probability that all units are busy and the
  correction :math:`Q(N,\rho,k)` makes the product of independent busy probabilities
  exact for a homogeneous M/M/N system:

  .. math::

      Q(N,\rho,k) = \frac{1}{\rho^k (1-\rho)} \sum_{m=k}^{N-1} p_m
          \binom{N-k-1}{m-k} \Big/ \binom{N}{m},

  :math:`p_m` the M/M/N probability of :math:`m` busy units. The probability that a call
  from atom :math:`j` is served by its :math:`k`-th preferred unit is then
  :math:`Q(N,\rho,k-1)\prod_{l<k}\rho_{a_{jl}}(1-\rho_{a_{jk}})`, and :math:`P_N` that it
  queues.

References
----------
Larson, R. C. (1974). A hypercube queuing model for facility location and redistricting
in urban emergency services. *Computers & Operations Research* 1(1), 67-95.
Larson, R. C. (1975). Approximating the performance of urban emergency service systems.
*Operations Research* 23(5), 845-868.
Jarvis, J. P. (1985). Approximating the equilibrium behavior of multi-server loss systems.
*Management Science* 31(2), 235-239.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.sparse import linalg as splinalg

from healthopt.queueing.erlang import mmc_state_probabilities

__all__ = [
    "HypercubeResult",
    "busy_fraction",
    "correction_factors",
    "hypercube_approx",
    "hypercube_exact",
    "preference_lists",
]


@dataclass(frozen=True)
class HypercubeResult:
    r"""Busy probabilities and dispatch probabilities of a hypercube model.

    Attributes
    ----------
    busy : ndarray
        :math:`\rho_i`, share of time unit ``i`` is busy (queue states included).
    dispatch : ndarray
        ``(atoms, N)``: probability that a call from atom ``j`` is served by its ``k``-th
        preferred unit (column ``k-1``) without waiting.
    queued : float
        Probability that a call finds every unit busy and waits (:math:`P_N`).
    preferences : ndarray
        ``(atoms, N)`` preference lists used (unit indices).
    method : str
        ``"exact"`` or ``"approx"``.
    iterations : int
        Fixed-point iterations (0 for the exact model).
    """

    busy: np.ndarray
    dispatch: np.ndarray
    queued: float
    preferences: np.ndarray
    method: str
    iterations: int = 0

    def unit_workload(self, *, call_rates: np.ndarray) -> np.ndarray:
        """Return the calls per time unit each unit serves from a free state (queued calls excluded)."""
        n = self.preferences.shape[1]
        out = np.zeros(n)
        np.add.at(out, self.preferences, self.dispatch * np.asarray(call_rates, float)[:, None])
        return out


def busy_fraction(*, calls: float, service_minutes: float, vehicles: int, period_minutes: float) -> float:
    r"""Average share of time a vehicle is busy: calls × service time ÷ (vehicles × period).

    .. math:: \bar\rho = \frac{\Lambda \, E[S]}{N\, T}

    Examples
    --------
    >>> busy_fraction(calls=8760, service_minutes=60, vehicles=2, period_minutes=525600)
    0.5
    """
    if vehicles < 1:
        raise ValueError("vehicles must be >= 1")
    return float(calls) * float(service_minutes) / (vehicles * float(period_minutes))


def preference_lists(*, travel_minutes: np.ndarray, unit_station: np.ndarray | None = None) -> np.ndarray:
    """Order the units for each atom: nearest first, ties by station index then unit index.

    Parameters
    ----------
    travel_minutes : ndarray
        ``(atoms, stations)`` travel times.
    unit_station : ndarray, optional
        Station of each unit (default: one unit per station, unit ``i`` at station ``i``).

    Returns
    -------
    ndarray
        ``(atoms, N)`` integer unit indices.
    """
    t = np.asarray(travel_minutes, dtype=float)
    units = np.arange(t.shape[1]) if unit_station is None else np.asarray(unit_station, dtype=np.int64)
    times = t[:, units]  # (atoms, N)
    n = units.size
    # lexsort keys, last is primary: unit index, station index, travel time
    order = np.empty((t.shape[0], n), dtype=np.int64)
    for j in range(t.shape[0]):
        order[j] = np.lexsort((np.arange(n), units, times[j]))
    return order


def _group_atoms(call_rates: np.ndarray, prefs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Merge atoms with identical preference lists (their rates add)."""
    uniq, inverse = np.unique(prefs, axis=0, return_inverse=True)
    rates = np.zeros(uniq.shape[0])
    np.add.at(rates, inverse.ravel(), call_rates)
    return uniq, rates, inverse.ravel()


def _check_inputs(call_rates: np.ndarray, prefs: np.ndarray, service_rate: float) -> float:
    if prefs.ndim != 2 or prefs.shape[0] != call_rates.shape[0]:
        raise ValueError("preferences must be (atoms, units) with one row per call rate")
    if np.any(call_rates < 0) or service_rate <= 0:
        raise ValueError("call rates must be >= 0 and the service rate > 0")
    n = prefs.shape[1]
    rho = float(call_rates.sum()) / (n * service_rate)
    if rho >= 1.0:
        raise ValueError(f"unstable system: utilisation {rho:.3f} >= 1 (calls exceed what {n} units serve)")
    return rho


def hypercube_exact(
    *, call_rates: np.ndarray, preferences: np.ndarray, service_rate: float, max_units: int = 10
) -> HypercubeResult:
    r"""Solve the hypercube model exactly on its :math:`2^N` states.

    Parameters
    ----------
    call_rates : ndarray
        :math:`\lambda_j` per atom (calls per minute).
    preferences : ndarray
        ``(atoms, N)`` preference lists (:func:`preference_lists`).
    service_rate : float
        :math:`\mu` (per minute).
    max_units : int
        Refuse larger :math:`N` (the chain has :math:`2^N` states).

    Returns
    -------
    HypercubeResult
        With ``method="exact"``.
    """
    lam = np.asarray(call_rates, dtype=float)
    prefs = np.asarray(preferences, dtype=np.int64)
    rho = _check_inputs(lam, prefs, service_rate)
    n = prefs.shape[1]
    if n > max_units:
        raise ValueError(f"the exact hypercube has 2^{n} states; use hypercube_approx above {max_units} units")
    groups, g_rates, inverse = _group_atoms(lam, prefs)
    n_states = 1 << n
    full = n_states - 1
    states = np.arange(n_states)
    bits = ((states[:, None] >> np.arange(n)) & 1).astype(bool)  # (S, N) busy flags
    # first free position in each group's list, per state (n = none free)
    first_pos = np.empty((groups.shape[0], n_states), dtype=np.int64)
    for g, order in enumerate(groups):
        free = ~bits[:, order]
        first_pos[g] = np.where(free.any(axis=1), free.argmax(axis=1), n)
    rows, cols, vals = [], [], []
    for g, order in enumerate(groups):
        ok = first_pos[g] < n
        src = states[ok]
        unit = order[first_pos[g][ok]]
        rows.append(src)
        cols.append(src | (1 << unit))
        vals.append(np.full(src.size, g_rates[g]))
    for i in range(n):  # service completions: busy -> free
        src = states[bits[:, i]]
        rows.append(src)
        cols.append(src & ~(1 << i))
        vals.append(np.full(src.size, service_rate))
    r, c, v = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
    q = sparse.coo_matrix((v, (r, c)), shape=(n_states, n_states)).tocsr()
    q = q - sparse.diags(np.asarray(q.sum(axis=1)).ravel())
    # pi Q = 0 with sum(pi) = 1: replace one balance equation by the normalisation
    a = q.T.tolil()
    a[0, :] = 1.0
    b = np.zeros(n_states)
    b[0] = 1.0
    pi = np.asarray(splinalg.spsolve(a.tocsc(), b), dtype=float)
    pi = np.clip(pi, 0.0, None)
    pi[full] /= 1.0 - rho  # the queue tail: all busy with k waiting has mass pi_full * rho^k
    pi /= pi.sum()
    busy = bits.T.astype(float) @ pi
    dispatch_g = np.zeros((groups.shape[0], n))
    for g in range(groups.shape[0]):
        ok = first_pos[g] < n
        np.add.at(dispatch_g[g], first_pos[g][ok], pi[ok])
    return HypercubeResult(busy=busy, dispatch=dispatch_g[inverse], queued=float(pi[full]),
                           preferences=prefs, method="exact")  # fmt: skip


def correction_factors(*, units: int, utilisation: float) -> np.ndarray:
    r"""Larson's correction :math:`Q(N, \rho, k)` for ``k = 0 .. N-1`` (module docstring).

    Computed from the M/M/N state probabilities in log space, so it is finite for
    hundreds of units. :math:`Q(N,\rho,0) = P(\text{some unit free})/(1-\rho)` is 1 only in
    a loss-free limit; the factors tend to 1 as :math:`\rho \to 0`.
    """
    n = int(units)
    p = mmc_state_probabilities(servers=n, offered_load=utilisation * n)[:n]  # m = 0..N-1 busy
    q = np.zeros(n)
    lg = math.lgamma
    for k in range(n):
        m = np.arange(k, n)
        # C(N-k-1, m-k) / C(N, m) in log space
        log_ratio = np.array([lg(n - k) - lg(mm - k + 1) - lg(n - mm) - lg(n + 1) + lg(mm + 1) + lg(n - mm + 1)
                              for mm in m])  # fmt: skip
        s = float(np.sum(p[k:] * np.exp(log_ratio)))
        q[k] = s / (utilisation**k * (1.0 - utilisation)) if utilisation > 0 else (1.0 if k == 0 else 0.0)
    return q


def hypercube_approx(
    *,
    call_rates: np.ndarray,
    preferences: np.ndarray,
    service_rate: float,
    tol: float = 1e-10,
    max_iter: int = 10_000,
) -> HypercubeResult:
    r"""Larson's (1975) approximation of the hypercube model (module docstring).

    Parameters
    ----------
    call_rates : ndarray
        :math:`\lambda_j` per atom.
    preferences : ndarray
        ``(atoms, N)`` preference lists; every atom ranks every unit.
    service_rate : float
        Common :math:`\mu`.
    tol : float
        Stop when no busy probability moves by more than ``tol``.
    max_iter : int
        Iteration cap (raises ``RuntimeError`` when reached).

    Returns
    -------
    HypercubeResult
        With ``method="approx"``.
    """
    lam = np.asarray(call_rates, dtype=float)
    prefs = np.asarray(preferences, dtype=np.int64)
    rho = _check_inputs(lam, prefs, service_rate)
    n = prefs.shape[1]
    groups, g_rates, inverse = _group_atoms(lam, prefs)
    qk = correction_factors(units=n, utilisation=rho)
    p_all = float(mmc_state_probabilities(servers=n, offered_load=rho * n)[-1])
    queued_share = float(lam.sum()) * p_all / (n * service_rate)
    busy = np.full(n, rho)
    load = g_rates / service_rate
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 - `it` is reported in the result
        r = busy[groups]  # (G, N) busy probability of each ranked unit
        prefix = np.cumprod(np.hstack([np.ones((groups.shape[0], 1)), r[:, :-1]]), axis=1)
        w = load[:, None] * qk[None, :] * prefix  # before the (1 - rho_i) factor
        a = np.bincount(groups.ravel(), weights=w.ravel(), minlength=n)  # 10x np.add.at
        new = (a + queued_share) / (1.0 + a)
        if np.max(np.abs(new - busy)) < tol:
            busy = new
            break
        busy = 0.5 * busy + 0.5 * new  # damped: plain iteration can oscillate at high load
    else:
        raise RuntimeError(f"hypercube approximation did not converge in {max_iter} iterations")
    r = busy[groups]
    prefix = np.cumprod(np.hstack([np.ones((groups.shape[0], 1)), r[:, :-1]]), axis=1)
    dispatch_g = qk[None, :] * prefix * (1.0 - r)
    return HypercubeResult(busy=busy, dispatch=dispatch_g[inverse], queued=p_all,
                           preferences=prefs, method="approx", iterations=it)  # fmt: skip

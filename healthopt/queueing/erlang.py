r"""Erlang B and Erlang C: the M/M/c loss and delay systems.

All functions work with the offered load :math:`a = \lambda / \mu` (erlangs) through the
Erlang B recursion, which never forms a factorial or a power and so stays finite and
accurate for hundreds of servers (``c`` up to 200 and beyond):

.. math::

    B(0, a) = 1, \qquad B(k, a) = \frac{a\, B(k-1, a)}{k + a\, B(k-1, a)}.

Erlang C follows from Erlang B (for :math:`a < c`):

.. math::

    C(c, a) = \frac{c\, B(c, a)}{c - a\,(1 - B(c, a))}.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "erlang_b",
    "erlang_c",
    "mmc_mean_wait",
    "mmc_state_probabilities",
    "mmc_wait_exceeds",
]


def _check(servers: int, load: float) -> None:
    if servers < 1 or int(servers) != servers:
        raise ValueError(f"servers must be a whole number >= 1, got {servers!r}")
    if not (load >= 0.0 and math.isfinite(load)):
        raise ValueError(f"offered load must be finite and >= 0, got {load!r}")


def erlang_b(*, servers: int, offered_load: float) -> float:
    r"""Blocking probability of the M/M/c/c loss system (Erlang B).

    Parameters
    ----------
    servers : int
        Number of servers :math:`c \ge 1`.
    offered_load : float
        :math:`a = \lambda / \mu` in erlangs.

    Returns
    -------
    float
        :math:`B(c, a)`, computed with the recursion of the module docstring.

    Examples
    --------
    >>> round(erlang_b(servers=1, offered_load=1.0), 6)
    0.5
    >>> 0.0 < erlang_b(servers=200, offered_load=180.0) < 0.02
    True
    """
    _check(servers, offered_load)
    b = 1.0
    for k in range(1, int(servers) + 1):
        b = offered_load * b / (k + offered_load * b)
    return b


def erlang_c(*, servers: int, offered_load: float) -> float:
    r"""Probability that an arrival waits in the M/M/c delay system (Erlang C).

    Parameters
    ----------
    servers : int
        Number of servers :math:`c`.
    offered_load : float
        :math:`a = \lambda / \mu`; the system is stable when :math:`a < c`.

    Returns
    -------
    float
        :math:`C(c, a) = c B / (c - a (1 - B))`; 1.0 when :math:`a \ge c` (every arrival
        waits in an unstable system).

    Examples
    --------
    >>> round(erlang_c(servers=1, offered_load=0.5), 6)  # M/M/1: P(wait) = rho
    0.5
    >>> round(erlang_c(servers=2, offered_load=1.0), 6)  # 1/3 for two servers at rho 0.5
    0.333333
    """
    _check(servers, offered_load)
    if offered_load >= servers:
        return 1.0
    b = erlang_b(servers=servers, offered_load=offered_load)
    return servers * b / (servers - offered_load * (1.0 - b))


def mmc_mean_wait(*, servers: int, arrival_rate: float, service_rate: float) -> float:
    r"""Mean wait in queue of the M/M/c system.

    .. math:: W_q = \frac{C(c, a)}{c \mu - \lambda}

    Parameters
    ----------
    servers : int
        Number of servers.
    arrival_rate, service_rate : float
        :math:`\lambda` and :math:`\mu` in the same time unit (per minute, say); the
        result is in the reciprocal unit (minutes).

    Returns
    -------
    float
        :math:`W_q`; ``inf`` when :math:`\lambda \ge c \mu`.
    """
    if service_rate <= 0:
        raise ValueError(f"service_rate must be > 0, got {service_rate!r}")
    load = arrival_rate / service_rate
    if load >= servers:
        return math.inf
    return erlang_c(servers=servers, offered_load=load) / (servers * service_rate - arrival_rate)


def mmc_wait_exceeds(*, servers: int, arrival_rate: float, service_rate: float, t: float) -> float:
    r"""Probability that the wait in queue exceeds ``t`` (M/M/c, FIFO).

    .. math:: P(W_q > t) = C(c, a)\, e^{-(c\mu - \lambda) t}

    Returns
    -------
    float
        1.0 for an unstable system.
    """
    if service_rate <= 0:
        raise ValueError(f"service_rate must be > 0, got {service_rate!r}")
    load = arrival_rate / service_rate
    if load >= servers:
        return 1.0
    c = erlang_c(servers=servers, offered_load=load)
    return c * math.exp(-(servers * service_rate - arrival_rate) * max(t, 0.0))


def mmc_state_probabilities(*, servers: int, offered_load: float) -> np.ndarray:
    r"""Probabilities that ``0 .. c-1`` servers are busy, and that all ``c`` are (M/M/c).

    Computed in log space, so loads of hundreds of erlangs do not overflow:

    .. math::

        p_m \propto \frac{a^m}{m!}\ (m < c), \qquad
        P(\text{all busy}) \propto \frac{a^c}{c!} \frac{1}{1 - a/c}.

    Parameters
    ----------
    servers : int
        Number of servers :math:`c`.
    offered_load : float
        :math:`a < c`.

    Returns
    -------
    ndarray
        Length ``c + 1``; the last entry is :math:`C(c, a)`, the share of time all are busy
        (queue states included). Sums to 1.
    """
    _check(servers, offered_load)
    c = int(servers)
    if offered_load >= c:
        raise ValueError(f"unstable system: offered load {offered_load} >= {c} servers")
    m = np.arange(c + 1, dtype=float)
    with np.errstate(divide="ignore"):
        log_a = math.log(offered_load) if offered_load > 0 else -math.inf
        logp = m * log_a - np.array([math.lgamma(k + 1.0) for k in m])
    if offered_load == 0:
        logp = np.where(m == 0, 0.0, -np.inf)
    logp[-1] -= math.log1p(-offered_load / c)
    logp -= np.max(logp)
    p = np.exp(logp)
    return p / p.sum()

"""Facility location models built from sparse travel-time pairs in matrix form.

Classes share :class:`~healthopt.models.base.LocationModel` (options, solve loop, result
tables, infeasibility diagnosis) and build a :class:`~healthopt.models.base.MilpProblem`
that :mod:`healthopt.milp.solve` sends to HiGHS or to PuLP (CBC / HiGHS).

* :class:`LSCP` — fewest sites covering all demand within a standard.
* :class:`MCLP` — most demand covered within a standard by p sites.
* :class:`BackupCoverage` (alias :data:`DSM`) — double standard model.
* :class:`PMedian` — least weighted travel time with p sites.
* :class:`PCenter` — smallest worst-case travel time with p sites.
* :class:`MEXCLP` — maximum expected coverage with busy vehicles.
"""

from healthopt.models.base import (
    CoverageSpec,
    LocationModel,
    LocationResult,
    MilpProblem,
    TravelPairs,
    VarBlock,
)
from healthopt.models.center import PCenter
from healthopt.models.coverage import DSM, LSCP, MCLP, BackupCoverage
from healthopt.models.expected import MEXCLP
from healthopt.models.median import PMedian

__all__ = [
    "DSM",
    "LSCP",
    "MCLP",
    "MEXCLP",
    "BackupCoverage",
    "CoverageSpec",
    "LocationModel",
    "LocationResult",
    "MilpProblem",
    "PCenter",
    "PMedian",
    "TravelPairs",
    "VarBlock",
]

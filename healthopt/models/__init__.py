"""Facility location models built from sparse travel-time pairs in matrix form.

Generic (nothing here knows of Taiyuan): every model takes a **demand × sites** cost matrix
(:meth:`from_cost_matrix`, spopt's orientation and argument order), a demand and a site
GeoDataFrame (:meth:`from_geodataframe`, Euclidean metres in a metric CRS) or a
travel-time object (:meth:`from_travel_times`, ``.matrix`` sites × demand), and
``solve()`` accepts a backend name or a PuLP solver object.

* :class:`LSCP` — fewest sites covering all demand within a standard.
* :class:`MCLP` — most demand covered within a standard by p sites.
* :class:`BackupCoverage` (alias :data:`DSM`) — double standard model.
* :class:`PMedian` — least weighted travel time with p sites.
* :class:`PCenter` — smallest worst-case travel time with p sites.
* :class:`MEXCLP` — maximum expected coverage with busy vehicles.

Where to add a model: a new module here with a :class:`~healthopt.models.base.LocationModel`
subclass that implements ``_build_core`` (its variables, rows and objective on a
:class:`~healthopt.milp.problem.MilpProblem`), then a line in this file.
"""

from healthopt.models.base import LocationModel, LocationOptions
from healthopt.models.center import PCenter
from healthopt.models.coverage import LSCP, MCLP
from healthopt.models.double_standard import DSM, BackupCoverage
from healthopt.models.expected import MEXCLP
from healthopt.models.median import PMedian
from healthopt.models.pairs import TravelPairs
from healthopt.models.result import LocationResult
from healthopt.models.spec import CoverageSpec

__all__ = [
    "DSM",
    "LSCP",
    "MCLP",
    "MEXCLP",
    "BackupCoverage",
    "CoverageSpec",
    "LocationModel",
    "LocationOptions",
    "LocationResult",
    "PCenter",
    "PMedian",
    "TravelPairs",
]

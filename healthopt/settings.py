"""Project-wide settings and defaults, kept in one place (as in OSMnx's ``settings``).

Planning norms (fleet per residents, bed targets, ...) are *not* here: they live in
the embedded tables ``healthopt/geodata/taiyuan/tables/*.csv`` with their source documents and
reach the models as scenario parameters. This module holds technical defaults only:
paths, coordinate systems, road speeds and fallbacks, cache locations.
"""

from __future__ import annotations

import os
from pathlib import Path

#: Repository root (the package lives in ``<root>/healthopt``).
ROOT: Path = Path(__file__).resolve().parent.parent

#: Embedded dataset folder (package data, so it ships in the wheel).
GEODATA_DIR: Path = Path(os.environ.get("HEALTHOPT_GEODATA", Path(__file__).resolve().parent / "geodata" / "taiyuan"))

def _default_cache_dir() -> Path:
    # A source checkout keeps its cache beside the code (``make clean`` removes it); an
    # installed package must not write into site-packages, so it uses the user's cache folder.
    if (ROOT / "pyproject.toml").is_file():
        return ROOT / ".cache"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "healthopt"


#: On-disk cache for built graphs (``HEALTHOPT_CACHE`` overrides it).
CACHE_DIR: Path = Path(os.environ.get("HEALTHOPT_CACHE") or _default_cache_dir())

#: Geographic CRS of every stored and output layer.
CRS_GEOGRAPHIC: str = "EPSG:4326"

#: Metric CRS used for every measurement in Taiyuan / Jinzhong (UTM zone 49N).
CRS_METRIC: str = "EPSG:32649"

#: Default free-flow car speeds (km/h) by OSM ``highway`` class, for Chinese cities.
#: Urban arterials in Taiyuan carry signal-controlled traffic: the figures are typical
#: average travel speeds rather than posted limits (cf. GB 50220 / CJJ 37 design speeds
#: 60/50/40/30 km/h for expressway/arterial/secondary/branch roads).
DEFAULT_SPEEDS_KPH: dict[str, float] = {
    "motorway": 90.0,
    "motorway_link": 50.0,
    "trunk": 60.0,
    "trunk_link": 40.0,
    "primary": 45.0,
    "primary_link": 30.0,
    "secondary": 35.0,
    "secondary_link": 25.0,
    "tertiary": 30.0,
    "tertiary_link": 20.0,
    "unclassified": 25.0,
    "residential": 20.0,
    "living_street": 10.0,
    "service": 15.0,
    "road": 25.0,
}

#: Highway classes kept as drivable.
DRIVABLE_HIGHWAYS: frozenset[str] = frozenset(DEFAULT_SPEEDS_KPH)

#: Ambulances with lights and siren move faster than general traffic.
DEFAULT_AMBULANCE_SPEED_FACTOR: float = 1.2

#: Travel time multiplier for traffic (1.0 = free flow; rush hour in Taiyuan ~1.4-1.6).
DEFAULT_CONGESTION_FACTOR: float = 1.0

#: Off-network fallback: straight-line distance x circuity / speed.
#: Circuity 1.3-1.4 is typical of Chinese road networks (Giacomin & Levinson 2015 report
#: ~1.3 for urban China); 40 km/h averages county and township roads.
DEFAULT_CIRCUITY: float = 1.35
DEFAULT_FALLBACK_SPEED_KPH: float = 40.0

#: Terrain classes of ``tables/terrain.csv`` and the circuity of off-network legs in each.
#: ``plain`` is measured: the median road / straight-line distance ratio of 10,679 node
#: pairs 2–30 km apart on the embedded central-Taiyuan extract is 1.31 (mean 1.34; p10–p90
#: 1.14–1.56). Hills and mountains lengthen roads: Kim et al. (2015, J. Korean Soc. Agric.
#: Eng. 57(4)) measured regional circuity from 1.218 (flat Gyeonggi) to 1.435 (mountainous
#: Gangwon), a ratio of 1.18; ``mountain`` applies that ratio to the measured plain value
#: and ``hilly`` half of it. Both are estimates, flagged so wherever they are used.
TERRAIN_CLASSES: tuple[str, ...] = ("plain", "hilly", "mountain")
DEFAULT_TERRAIN_CIRCUITY: dict[str, float] = {"plain": 1.31, "hilly": 1.43, "mountain": 1.54}

#: Demand points farther than this from the nearest graph node are "off network".
DEFAULT_SNAP_TOLERANCE_M: float = 500.0

#: Demand grid cell sizes (metres).
DEFAULT_CELL_URBAN_M: float = 500.0
DEFAULT_CELL_COUNTY_M: float = 1000.0

#: Minimum spacing (metres) between network-node candidate sites.
DEFAULT_CANDIDATE_SPACING_M: float = 1000.0

#: OpenStreetMap attribution, required on every map (ODbL 1.0).
OSM_ATTRIBUTION: str = "© OpenStreetMap contributors (ODbL)"

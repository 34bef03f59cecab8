"""Loader of the embedded Taiyuan / Jinzhong dataset (``healthopt/geodata/taiyuan``).

Everything a default scenario needs ships in the repository; this module reads it,
joins the tables into typed frames and validates them (CRS, codes, official totals).
Every figure keeps a ``quality`` flag (official / secondary / estimate) and a source so
reports can trace what they print.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import pandas as pd

from healthopt import settings
from healthopt.errors import InputError

#: Official city totals (Shanxi 7th census bulletin No. 2) the unit figures must add up to.
OFFICIAL_CITY_TOTALS: dict[str, int] = {"140100": 5_304_061, "140700": 3_379_498}
TAIYUAN_CODE = "140100"
JINZHONG_CODE = "140700"

_DISTRICT_COLUMNS = [
    "code", "name_zh", "name_en", "city_code", "city_zh", "kind", "norm_class",
    "bed_strategy", "population", "urban_population", "population_quality",
    "population_source", "norm_class_quality", "n_streets", "n_towns", "n_townships",
    "n_other_divisions", "terrain", "terrain_quality", "geometry",
]  # fmt: skip


@dataclass(frozen=True)
class HospitalLayer:
    """The scenario's hospitals layer, ready for matching by name.

    Attributes
    ----------
    points : GeoDataFrame
        One row per feature in file order: ``id``, ``name`` (as written), ``key``
        (normalised name), ``line`` (CSV line, else None), ``district_code`` (district of
        the embedded data, user boundaries applied, holding the point; None beyond all of
        them) and the WGS84 point.
    source : str
        The file, for messages.
    name_field : str
        Column the names were read from.
    """

    points: gpd.GeoDataFrame
    source: str
    name_field: str


@dataclass
class TaiyuanData:
    """The embedded dataset, validated.

    Attributes
    ----------
    districts : GeoDataFrame
        21 county-level units (EPSG:4326) with names, kind, ambulance norm class, bed
        strategy, 2020 census population with quality/source and division counts.
    cities : GeoDataFrame
        Outlines of Taiyuan and Jinzhong (EPSG:4326).
    seats : GeoDataFrame
        One seat point per district (EPSG:4326), ``location_quality="secondary"``.
    divisions : DataFrame
        Streets / towns / townships with committee counts.
    norms : DataFrame
        Planning norms, one row per figure, indexed by ``key``.
    beds_district, hospitals, green_channel, facility_addresses : DataFrame
        Planning tables from the seed documents.
    manifest : DataFrame
        One row per embedded file with title, source, licence, CRS and quality.
    root : Path
        Folder the data was read from.
    warnings : list of str
        Data-quality notes about this copy of the data (e.g. user layers applied to it).
    hospital_layer : GeoDataFrame or None
        Points of the scenario's hospitals layer (see :mod:`healthopt.data.overlay`);
        None for the embedded data alone, which has no hospital coordinates.
    """

    districts: gpd.GeoDataFrame
    cities: gpd.GeoDataFrame
    seats: gpd.GeoDataFrame
    divisions: pd.DataFrame
    norms: pd.DataFrame
    beds_district: pd.DataFrame
    hospitals: pd.DataFrame
    green_channel: pd.DataFrame
    facility_addresses: pd.DataFrame
    manifest: pd.DataFrame
    root: Path
    warnings: list[str] = field(default_factory=list)
    hospital_layer: HospitalLayer | None = None

    @property
    def roads_path(self) -> Path:
        """Path of the embedded OSM road extract."""
        return self.root / self.manifest.loc["roads", "file"]

    def norm(self, key: str) -> float:
        """Return the value of a planning norm from ``tables/norms.csv``."""
        if key not in self.norms.index:
            raise KeyError(f"norm {key!r} is not in {self.root / 'tables' / 'norms.csv'}")
        return float(self.norms.loc[key, "value"])

    def study_area(self, codes: list[str] | None = None) -> gpd.GeoDataFrame:
        """Return the districts with the given codes (all 21 when ``None``), in order."""
        if codes is None:
            return self.districts.copy()
        codes = [str(c) for c in codes]
        unknown = sorted(set(codes) - set(self.districts["code"]))
        if unknown:
            known = ", ".join(self.districts["code"])
            raise InputError(None, "area.districts", f"unknown district code(s) {unknown}; known: {known}")
        return self.districts.set_index("code").loc[codes].reset_index()


def _path(root: Path, rel: str) -> Path:
    path = root / rel
    if not path.exists():
        raise InputError(path, None, "embedded data file is missing (re-clone the repository)")
    return path


def _read_csv(root: Path, rel: str, **kwargs) -> pd.DataFrame:
    path = _path(root, rel)
    try:
        return pd.read_csv(path, **kwargs)
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(path, None, f"cannot be read as CSV ({exc})") from exc


def _require_columns(frame: pd.DataFrame, columns: list[str], source: Path) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(source, missing[0], f"required column missing (has: {list(frame.columns)})")


def _read_geo(root: Path, rel: str) -> gpd.GeoDataFrame:
    path = _path(root, rel)
    try:
        gdf = gpd.read_file(path)
    except Exception as exc:  # pyogrio raises several types for unreadable files
        raise InputError(path, None, f"cannot be read as a vector layer ({exc})") from exc
    if gdf.crs is None or gdf.crs.to_epsg() != 4326:
        raise InputError(path, "crs", f"expected EPSG:4326 (WGS84), found {gdf.crs}")
    if not gdf.geometry.is_valid.all():
        bad = gdf.index[~gdf.geometry.is_valid][0]
        raise InputError(path, "geometry", f"invalid geometry in feature {bad}")
    return gdf


def _check_code(codes: pd.Series, source: Path, field_name: str) -> None:
    bad = codes[~codes.astype(str).str.fullmatch(r"\d{6}")]
    if len(bad):
        raise InputError(source, field_name, f"not a 6-digit adcode: {bad.iloc[0]!r}")


def _load_population(root: Path, rel: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    source = root / rel
    pop = _read_csv(root, rel, dtype={"adcode": str})
    _require_columns(pop, ["adcode", "resident_population_2020", "quality", "source"], source)
    _check_code(pop["adcode"], source, "adcode")
    values = pd.to_numeric(pop["resident_population_2020"], errors="coerce")
    if values.isna().any() or (values <= 0).any():
        row = int(values.index[values.isna() | (values <= 0)][0]) + 2
        raise InputError(source, "resident_population_2020", f"missing or non-positive in row {row}")
    pop["resident_population_2020"] = values.astype("int64")
    is_city = pop["level"].eq("city")
    return pop[~is_city].copy(), pop[is_city].copy()


def _check_totals(units: pd.DataFrame, cities: pd.DataFrame, source: Path) -> None:
    for city_code, official in OFFICIAL_CITY_TOTALS.items():
        in_city = units["adcode"].str[:4] == city_code[:4]
        total = int(units.loc[in_city, "resident_population_2020"].sum())
        stated = cities.loc[cities["adcode"] == city_code, "resident_population_2020"]
        if total != official or (len(stated) and int(stated.iloc[0]) != official):
            raise InputError(
                source, "resident_population_2020",
                f"units of {city_code} sum to {total:,}, official census total is {official:,}",
            )  # fmt: skip


def _division_counts(divisions: pd.DataFrame) -> pd.DataFrame:
    kind_map = {"街道": "n_streets", "镇": "n_towns", "乡": "n_townships"}
    kinds = divisions["type"].map(kind_map).fillna("n_other_divisions")
    counts = pd.crosstab(divisions["county_code"], kinds)
    for col in [*kind_map.values(), "n_other_divisions"]:
        if col not in counts:
            counts[col] = 0
    return counts.astype("int64")


def _load_seats(root: Path, rel: str) -> gpd.GeoDataFrame:
    source = root / rel
    seats = _read_csv(root, rel, dtype={"adcode": str})
    _require_columns(seats, ["adcode", "name", "lon_wgs84", "lat_wgs84"], source)
    geometry = gpd.points_from_xy(seats["lon_wgs84"], seats["lat_wgs84"], crs=settings.CRS_GEOGRAPHIC)
    out = gpd.GeoDataFrame(
        {"code": seats["adcode"], "name_zh": seats["name"], "location_quality": seats["quality"],
         "source": seats["source"]},
        geometry=geometry,
    )  # fmt: skip
    return out


def _join_districts(root: Path, manifest: pd.DataFrame) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    boundaries_file = manifest.loc["districts", "file"]
    shapes = _read_geo(root, boundaries_file)
    _check_code(shapes["adcode"], root / boundaries_file, "adcode")
    meta_file = manifest.loc["districts_meta", "file"]
    meta = _read_csv(root, meta_file, dtype={"code": str, "city_code": str})
    units, cities = _load_population(root, manifest.loc["population", "file"])
    _check_totals(units, cities, root / manifest.loc["population", "file"])
    divisions = _read_csv(
        root, manifest.loc["divisions", "file"], dtype={"street_code": str, "county_code": str}
    )
    missing = sorted(set(meta["code"]) - set(shapes["adcode"].astype(str)))
    if missing:
        raise InputError(root / boundaries_file, "adcode", f"no boundary for district(s) {missing}")
    missing = sorted(set(meta["code"]) - set(units["adcode"]))
    if missing:
        raise InputError(root / manifest.loc["population", "file"], "adcode", f"no population for {missing}")
    pop = units.rename(columns={
        "adcode": "code", "resident_population_2020": "population",
        "urban_population_2020": "urban_population", "quality": "population_quality",
        "source": "population_source",
    })[["code", "population", "urban_population", "population_quality", "population_source"]]  # fmt: skip
    frame = meta.rename(columns={"quality": "norm_class_quality"}).merge(pop, on="code", how="left")
    frame = frame.merge(_division_counts(divisions), left_on="code", right_index=True, how="left")
    frame = frame.merge(_load_terrain(root, manifest), on="code", how="left")
    geoms = shapes.assign(code=shapes["adcode"].astype(str)).set_index("code").geometry
    frame["geometry"] = frame["code"].map(geoms)
    count_cols = ["n_streets", "n_towns", "n_townships", "n_other_divisions"]
    frame[count_cols] = frame[count_cols].fillna(0).astype("int64")
    districts = gpd.GeoDataFrame(frame[_DISTRICT_COLUMNS], geometry="geometry", crs=shapes.crs)
    return districts, divisions


def _load_terrain(root: Path, manifest: pd.DataFrame) -> pd.DataFrame:
    """Terrain class per district (plain / hilly / mountain); an older dataset without the table has none."""
    if "terrain" not in manifest.index:
        return pd.DataFrame({"code": pd.Series(dtype=str), "terrain": pd.Series(dtype=object),
                             "terrain_quality": pd.Series(dtype=object)})  # fmt: skip
    rel = manifest.loc["terrain", "file"]
    table = _read_csv(root, rel, dtype={"code": str})
    _require_columns(table, ["code", "terrain", "quality"], root / rel)
    bad = sorted(set(table["terrain"]) - set(settings.TERRAIN_CLASSES))
    if bad:
        use = ", ".join(settings.TERRAIN_CLASSES)
        raise InputError(root / rel, "terrain", f"unknown terrain class(es) {bad}: use {use}")
    return table[["code", "terrain", "quality"]].rename(columns={"quality": "terrain_quality"})


def _load_manifest(root: Path, *, from_environment: bool = False) -> pd.DataFrame:
    if not root.is_dir():
        what = "not a folder" if root.exists() else "not found"
        # Name the variable: the user never typed this path into a scenario.
        where = " (from the environment variable HEALTHOPT_GEODATA)" if from_environment else ""
        raise InputError(root, None, f"embedded dataset folder {what}{where}")
    manifest = _read_csv(root, "manifest.csv")
    _require_columns(manifest, ["dataset", "file", "source", "licence", "quality"], root / "manifest.csv")
    return manifest.set_index("dataset")


def load_taiyuan(root: str | Path | None = None) -> TaiyuanData:
    """Load and validate the embedded Taiyuan / Jinzhong dataset.

    Parameters
    ----------
    root : str or Path, optional
        Dataset folder; defaults to ``settings.GEODATA_DIR`` (``healthopt/geodata/taiyuan``).

    Returns
    -------
    TaiyuanData
        Typed, validated frames (geometries in EPSG:4326).

    Raises
    ------
    InputError
        If a file is missing or unreadable, a CRS is not WGS84, a code is malformed or
        unknown, or census unit populations do not add up to the official city totals.
    """
    from_environment = root is None and "HEALTHOPT_GEODATA" in os.environ
    root = Path(root) if root is not None else settings.GEODATA_DIR
    manifest = _load_manifest(root, from_environment=from_environment)
    districts, divisions = _join_districts(root, manifest)
    seats = _load_seats(root, manifest.loc["seats", "file"])
    missing_seats = sorted(set(districts["code"]) - set(seats["code"]))
    if missing_seats:
        raise InputError(root / manifest.loc["seats", "file"], "adcode", f"no seat for {missing_seats}")
    tables = {
        name: _read_csv(root, manifest.loc[name, "file"], dtype={"code": str, "district_code": str})
        for name in ("norms", "beds_district", "hospitals", "green_channel")
    }
    _path(root, manifest.loc["roads", "file"])
    return TaiyuanData(
        districts=districts,
        cities=_read_geo(root, manifest.loc["cities", "file"]),
        seats=seats,
        divisions=divisions,
        norms=tables["norms"].set_index("key"),
        beds_district=tables["beds_district"],
        hospitals=tables["hospitals"],
        green_channel=tables["green_channel"],
        facility_addresses=_read_csv(root, manifest.loc["facility_addresses", "file"]),
        manifest=manifest,
        root=root,
    )

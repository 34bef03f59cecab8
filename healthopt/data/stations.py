"""The planner's existing ambulance stations: reading the layer, and writing a plan's layout as one.

A stations layer says what exists today: per station an id, a name, its ambulances, the
negative-pressure ambulances among them, optionally the most it can hold (``capacity``),
the year it opened and its crew. :func:`read_stations` reads and checks it (one-line
errors naming the file, the column and the CSV line) and :func:`attach_existing` puts the
figures on the candidate sites, where the ambulance plan reads them as the existing fleet
(``vehicles_existing``, ``np_existing``).

Every run writes its own layout back in the same format (:func:`write_layout_csv`,
``stations_layer.csv`` in WGS84), so the layout of any run can be the existing network of
another scenario, e.g. ``mode: evaluate`` at rush hour. The template with the columns and
an example row is ``healthopt/geodata/stations_template.csv``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from healthopt.data._checks import check_required, feature_error
from healthopt.data.layers import read_facilities

__all__ = ["LAYOUT_COLUMNS", "TEMPLATE", "TEMPLATE_COLUMNS", "attach_existing", "given_text", "read_stations"]

#: Columns of the template, in order (``capacity`` is read only when the scenario names it).
TEMPLATE_COLUMNS: tuple[str, ...] = (
    "id", "name", "lon", "lat", "vehicles", "negative_pressure", "capacity", "opened", "crew",
)  # fmt: skip

#: Columns of every run's ``stations_layer.csv``: the template's but ``capacity``, which a plan
#: does not know (a blank capacity would be refused as a missing count when read back), and,
#: for the reader's information only, the district code and whether the station is new.
LAYOUT_COLUMNS: tuple[str, ...] = (*(c for c in TEMPLATE_COLUMNS if c != "capacity"), "district_code", "status")

#: The template shipped with the package (columns, an example row; see its README section).
TEMPLATE = Path(__file__).resolve().parent.parent / "geodata" / "stations_template.csv"

#: Years a station may have opened in (an "opened" outside is a typo or another column).
OPENED_RANGE = (1900, 2100)


def read_stations(path: str | Path, crs: str | int, *, id_field: str = "id", name_field: str = "name",
                  vehicles_field: str = "vehicles", negative_pressure_field: str = "negative_pressure",
                  capacity_field: str | None = None, opened_field: str = "opened", crew_field: str = "crew",
                  require_vehicles: bool = False, layer: str | int | None = None) -> gpd.GeoDataFrame:
    """Read an existing-stations layer and check its figures.

    Parameters
    ----------
    path : str or Path
        Point layer (CSV with lon/lat, GeoPackage, GeoJSON, Shapefile).
    crs : str or int
        Declared coordinate system (``wgs84``, ``gcj02`` for Amap/Tencent, ``bd09`` for Baidu, EPSG code).
    id_field, name_field : str
        Unique identifier and display name (both required).
    vehicles_field, negative_pressure_field : str
        Ambulances and, among them, negative-pressure ambulances (whole numbers >= 0,
        negative-pressure <= vehicles). A column that is absent counts 0 unless
        ``require_vehicles``.
    capacity_field : str, optional
        Most ambulances the station can hold (required when given).
    opened_field, crew_field : str
        Optional year opened and crew (staff on the station's roster), shown as given.
    require_vehicles : bool
        Refuse a layer without the vehicles column (the plan fixes or keeps its fleet).
    layer : str or int, optional
        GeoPackage layer.

    Returns
    -------
    geopandas.GeoDataFrame
        EPSG:4326 points with ``id``, ``name``, ``vehicles``, ``negative_pressure`` (int),
        ``capacity`` (when given), ``opened`` and ``crew`` (nullable int).

    Raises
    ------
    InputError
        Missing name/id/vehicles column, a blank name, a count that is negative or not a
        whole number, more negative-pressure ambulances than ambulances, an implausible year.
    """
    gdf = read_facilities(path, crs, id_field=id_field, name_field=name_field, capacity_field=capacity_field,
                          layer=layer, count_fields=[vehicles_field, negative_pressure_field])
    source, is_csv = str(path), gdf.attrs.get("format") == "csv"
    if require_vehicles:
        check_required(gdf, [vehicles_field], source)
    _check_names(gdf["name"], source, name_field, is_csv)
    out = gdf[["id", "name", "geometry"]].copy()
    for field, col in ((vehicles_field, "vehicles"), (negative_pressure_field, "negative_pressure")):
        out[col] = _whole(gdf[field], field, source, is_csv) if field in gdf.columns else 0
    # the plan modes that keep or fix the fleet refuse a layer without it (Ambulances.from_scenario)
    out["vehicles_given"] = vehicles_field in gdf.columns
    bad = (out["negative_pressure"] > out["vehicles"]).to_numpy()
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        raise feature_error(source, negative_pressure_field,
                            f"{out['negative_pressure'].iloc[pos]} negative-pressure ambulances but only "
                            f"{out['vehicles'].iloc[pos]} ambulances ('{vehicles_field}'): they are part of the fleet",
                            pos=pos, is_csv=is_csv)
    if capacity_field:
        out["capacity"] = _whole(gdf["capacity"], capacity_field, source, is_csv)
    out["opened"] = _year(gdf[opened_field], opened_field, source, is_csv) if opened_field in gdf.columns else pd.NA
    out["crew"] = _whole(gdf[crew_field], crew_field, source, is_csv, blank_ok=True) \
        if crew_field in gdf.columns else pd.NA
    out.attrs.update(gdf.attrs)
    return gpd.GeoDataFrame(out, geometry="geometry", crs=gdf.crs)


def _check_names(names: pd.Series, source: str, field: str, is_csv: bool) -> None:
    """Refuse a blank name: a station without one cannot be found on the map or in the tables."""
    blank = (names.isna() | (names.astype(str).str.strip() == "")).to_numpy()
    if blank.any():
        raise feature_error(source, field, "empty station name", pos=int(np.flatnonzero(blank)[0]), is_csv=is_csv)


def _whole(values: pd.Series, field: str, source: str, is_csv: bool, *, blank_ok: bool = False) -> pd.Series:
    """Return counts (already checked finite and >= 0 by the reader, or blank) as whole numbers."""
    num = pd.to_numeric(values, errors="coerce")
    given = ~(values.isna() | (values.astype(str).str.strip() == "")).to_numpy()
    # counts the reader checked are never blank; an optional one (crew) may be, but not text or < 0
    for bad, what in ((given & num.isna().to_numpy(), "not a number"), (~given & (not blank_ok), "missing value"),
                      ((num < 0).to_numpy(), "negative count")):
        if bad.any():
            pos = int(np.flatnonzero(bad)[0])
            shown = "" if what == "missing value" else f": {values.iloc[pos]}"
            raise feature_error(source, field, f"{what}{shown}", pos=pos, is_csv=is_csv)
    frac = (num.notna() & (num != np.round(num))).to_numpy()
    if frac.any():
        pos = int(np.flatnonzero(frac)[0])
        raise feature_error(source, field, f"not a whole number: {num.iloc[pos]:g}", pos=pos, is_csv=is_csv)
    return num.round().astype("Int64") if blank_ok else num.round().astype(int)


def _year(values: pd.Series, field: str, source: str, is_csv: bool) -> pd.Series:
    """Return the opening years (blank allowed); refuse text and implausible years."""
    text = values.astype(str).str.strip()
    num = pd.to_numeric(text.where(~values.isna() & (text != "")), errors="coerce")
    given = (~values.isna() & (text != "")).to_numpy()
    lo, hi = OPENED_RANGE
    bad = given & (num.isna() | (num != np.round(num)) | (num < lo) | (num > hi)).to_numpy()
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        raise feature_error(source, field, f"not a year between {lo} and {hi}: {text.iloc[pos]}",
                            pos=pos, is_csv=is_csv)
    return num.round().astype("Int64")


def attach_existing(cand: pd.DataFrame, stations: gpd.GeoDataFrame | None, *, prefix: str = "user-stations-",
                    per_station: int) -> pd.DataFrame:
    """Put the layer's figures on the candidate sites it became (site id ``prefix + id``).

    Parameters
    ----------
    cand : DataFrame
        Candidate sites with ``site_id`` and ``max_vehicles``.
    stations : GeoDataFrame or None
        From :func:`read_stations`.
    prefix : str
        Site-id prefix of the layer's stations.
    per_station : int
        ``max_vehicles_per_station`` of the scenario.

    Returns
    -------
    DataFrame
        ``cand`` with ``station_id``, ``vehicles_existing``, ``np_existing`` (0 on other
        sites), ``opened`` and ``crew``; ``max_vehicles`` raised to the layer's capacity
        and to its vehicles (a station holds at least what it has).
    """
    out = cand.copy()
    if stations is None:
        out["vehicles_existing"] = 0
        out["np_existing"] = 0
        out["vehicles_given"] = False
        return out
    keyed = pd.DataFrame(stations.drop(columns="geometry")).set_index(prefix + stations["id"])
    site = out["site_id"]
    out["station_id"] = site.map(keyed["id"])
    out["vehicles_existing"] = site.map(keyed["vehicles"]).fillna(0).astype(int)
    out["np_existing"] = site.map(keyed["negative_pressure"]).fillna(0).astype(int)
    out["vehicles_given"] = site.map(keyed["vehicles_given"]).eq(True).to_numpy()
    out["opened"] = site.map(keyed["opened"]).astype("Int64")
    out["crew"] = site.map(keyed["crew"]).astype("Int64")
    held = site.map(keyed["capacity"]).fillna(0) if "capacity" in keyed else 0
    out["max_vehicles"] = np.maximum(np.maximum(per_station, held), out["vehicles_existing"]).astype(int)
    return out


def given_text(value: Any) -> str | None:
    """Return a cell as text, or None when it is blank (None, NaN, pd.NA, "")."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    text = str(value).strip()
    if text.endswith(".0") and text[:-2].isdigit():
        text = text[:-2]  # an Int64 that went through float
    return text or None


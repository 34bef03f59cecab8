"""A plan's stations written back as a stations layer, so any run's layout can be another's input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from healthopt.data.stations import LAYOUT_COLUMNS, given_text
from healthopt.outputs.tables import write_csv

__all__ = ["write_layout_csv"]


def write_layout_csv(path: str | Path, stations: gpd.GeoDataFrame) -> Path:
    """Write a plan's stations as a stations layer (WGS84, the template's columns).

    Parameters
    ----------
    path : str or Path
        Output CSV (UTF-8; text cells a spreadsheet would run as formulas get a leading ``'``).
    stations : GeoDataFrame
        The ``stations`` result layer (``site_id``, ``name``, ``vehicles``,
        ``negative_pressure``; ``station_id``, ``opened``, ``crew`` where the station came
        from a layer).

    Returns
    -------
    Path
        The file written. Read it back with ``crs: wgs84``: the same sites (a station that
        came from a layer keeps its id), names and vehicles.
    """
    pts = stations.to_crs(4326).geometry
    rows: list[dict[str, Any]] = []
    for k, row in enumerate(stations.itertuples(index=False)):
        ident = given_text(getattr(row, "station_id", None)) or str(row.site_id)
        name = given_text(getattr(row, "name", None)) or str(row.site_id)
        rows.append({
            "id": ident, "name": name, "lon": f"{pts.iloc[k].x:.7f}", "lat": f"{pts.iloc[k].y:.7f}",
            "vehicles": int(row.vehicles), "negative_pressure": int(row.negative_pressure),
            "opened": given_text(getattr(row, "opened", None)) or "",
            "crew": given_text(getattr(row, "crew", None)) or "",
            "district_code": given_text(getattr(row, "district_code", None)) or "",
            "status": given_text(getattr(row, "status", None)) or "",
        })  # fmt: skip
    out = Path(path)
    # the tool's one CSV writer: a name a spreadsheet would run as a formula gets a leading '
    write_csv(out, pd.DataFrame(rows, columns=list(LAYOUT_COLUMNS), dtype=object))
    return out

"""Compare two run folders: what changed by district, and a side-by-side map.

``healthopt compare RUN_A RUN_B`` reads each folder's ``results.gpkg`` and
``summary.json`` and writes ``compare.html`` (synchronized maps) and ``compare.csv``
(district table) into the output folder.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio

from healthopt.errors import InputError
from healthopt.outputs import tables
from healthopt.outputs.compare_map import build_compare_map
from healthopt.outputs.summary import RunSummary, read_summary

#: District columns compared (when both runs have them).
COMPARED = (
    "amb_planned", "amb_np_planned", "stations", "pop_covered", "pop_beyond_capacity", "pop_outside",
    "coverage_share", "beds_planned", "beds_per_1000_planned",
)  # fmt: skip


def load_run(folder: str | Path) -> tuple[dict[str, gpd.GeoDataFrame], RunSummary]:
    """Read a run folder's result layers and summary (checked: :func:`healthopt.outputs.summary.read_summary`)."""
    folder = Path(folder)
    gpkg, summary = folder / "results.gpkg", folder / "summary.json"
    for path in (gpkg, summary):
        if not path.exists():
            raise InputError(path, None, "not found: is this a `healthopt run` output folder?")
    layers = {name: gpd.read_file(gpkg, layer=name) for name, _ in pyogrio.list_layers(gpkg)}
    for name in ("stations", "coverage_areas", "demand"):
        if name in layers and "estimated" in layers[name]:
            layers[name]["estimated"] = layers[name]["estimated"].astype(bool)
    return layers, read_summary(summary)


def district_changes(a: gpd.GeoDataFrame, b: gpd.GeoDataFrame) -> pd.DataFrame:
    """Return one row per district with each compared value in A, in B and B − A."""
    cols = [c for c in COMPARED if c in a.columns and c in b.columns]
    left = pd.DataFrame(a[["code", "name_zh", *cols]])
    right = pd.DataFrame(b[["code", *cols]])
    both = left.merge(right, on="code", how="outer", suffixes=("_a", "_b"))
    for col in cols:
        both[f"{col}_change"] = both[f"{col}_b"] - both[f"{col}_a"]
    return both.sort_values("code").reset_index(drop=True)


def compare_runs(run_a: str | Path, run_b: str | Path, out: str | Path, *, offline: bool = True) -> pd.DataFrame:
    """Write ``compare.html`` and ``compare.csv`` for two runs into ``out`` (atomically)."""
    layers_a, summary_a = load_run(run_a)
    layers_b, summary_b = load_run(run_b)
    changes = district_changes(layers_a["districts"], layers_b["districts"])
    html = build_compare_map(layers_a, summary_a, layers_b, summary_b, offline=offline)
    with tables.atomic_folder(Path(out), kind="compare") as tmp:
        (tmp / "compare.html").write_text(html, encoding="utf-8")
        tables.write_csv(tmp / "compare.csv", changes, float_format="%.6g")
    return changes

"""Plain-data summaries of the embedded dataset for ``healthopt data info``."""

from __future__ import annotations

import pandas as pd

from optimizer.data.taiyuan import TaiyuanData


def _row_count(data: TaiyuanData, dataset: str) -> str:
    frames = {
        "districts": data.districts, "cities": data.cities, "population": data.districts,
        "divisions": data.divisions, "seats": data.seats, "norms": data.norms,
        "facility_addresses": data.facility_addresses, "beds_district": data.beds_district,
        "hospitals": data.hospitals, "green_channel": data.green_channel,
        "districts_meta": data.districts,
    }  # fmt: skip
    if dataset == "roads":
        size_mb = data.roads_path.stat().st_size / 1e6
        return f"{size_mb:.1f} MB"
    frame = frames.get(dataset)
    return f"{len(frame):,}" if frame is not None else "?"


def dataset_rows(data: TaiyuanData) -> list[tuple[str, ...]]:
    """Return one display row per embedded file: name, file, rows, source, licence, quality."""
    rows = []
    for name, rec in data.manifest.iterrows():
        rows.append((str(name), str(rec["file"]), _row_count(data, str(name)), str(rec["source"]),
                     str(rec["licence"]), str(rec["quality"])))  # fmt: skip
    return rows


def district_rows(data: TaiyuanData) -> list[tuple[str, ...]]:
    """Return one display row per district with population and its quality flag."""
    rows = []
    for rec in data.districts.itertuples():
        per = data.norm(f"ambulance.residents_per_vehicle.{rec.norm_class}")
        norm = f"1 per {per:,.0f}" + (" (assumed)" if rec.norm_class_quality == "estimate" else "")
        rows.append((rec.code, f"{rec.name_zh} {rec.name_en}", rec.kind, norm, f"{rec.population:,}",
                     rec.population_quality, str(rec.n_streets), str(rec.n_towns + rec.n_townships)))  # fmt: skip
    return rows


def _fmt_minutes(series: pd.Series) -> str:
    q = series.quantile([0.5, 0.9, 1.0])
    return f"median {q.iloc[0]:.1f}, p90 {q.iloc[1]:.1f}, max {q.iloc[2]:.1f} min"

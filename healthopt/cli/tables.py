"""Plain-data summaries of the embedded dataset for ``healthopt data info``."""

from __future__ import annotations

import pandas as pd

from healthopt.data.dataset import TaiyuanData


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
    rows: list[tuple[str, ...]] = []
    for name, rec in data.manifest.iterrows():
        rows.append((str(name), str(rec["file"]), _row_count(data, str(name)), str(rec["source"]),
                     str(rec["licence"]), str(rec["quality"])))  # fmt: skip
    return rows


def district_rows(data: TaiyuanData) -> list[tuple[str, ...]]:
    """Return one display row per district with population and its quality flag."""
    rows: list[tuple[str, ...]] = []
    for rec in data.districts.itertuples():
        per = data.norm(f"ambulance.residents_per_vehicle.{rec.norm_class}")
        norm = f"1 per {per:,.0f}" + (" (assumed)" if rec.norm_class_quality == "estimate" else "")
        rows.append((rec.code, f"{rec.name_zh} {rec.name_en}", rec.kind, norm, f"{rec.population:,}",
                     rec.population_quality, str(rec.n_streets), str(rec.n_towns + rec.n_townships)))  # fmt: skip
    return rows


def _fmt_minutes(series: pd.Series) -> str:
    q = series.quantile([0.5, 0.9, 1.0])
    return f"median {q.iloc[0]:.1f}, p90 {q.iloc[1]:.1f}, max {q.iloc[2]:.1f} min"


def _graph_rows(summary: dict, seconds: float) -> list[tuple[str, str]]:
    scc = summary["scc"]
    rows = [
        ("source", f"{summary['source']} (sha256 {str(summary['source_sha256'])[:12]}…)"),
        ("nodes / edges", f"{summary['nodes']:,} / {summary['edges']:,}"),
        ("drivable road", f"{summary['road_km']:,.1f} km"),
        ("largest strongly connected component",
         f"kept; dropped {scc.get('nodes_dropped')} nodes, {scc.get('edges_dropped')} edges, "
         f"{(scc.get('km_dropped') or 0):.1f} km"),
        ("speed factors", f"ambulance ×{summary['ambulance_speed_factor']}, congestion ×{summary['congestion']}"),
        ("load time", f"{seconds:.2f} s"),
    ]
    rows += [(f"  {cls}", f"{km:,.1f} km") for cls, km in list(summary["km_by_class"].items())[:8]]
    return rows


def _access_rows(data: TaiyuanData, G, cutoff_minutes: float) -> list[tuple[str, str]]:
    """Residents within the default response standard of their district seat, by district."""
    from healthopt import demand, network, traveltime

    codes = list(data.districts.loc[data.districts["city_code"] == "140100", "code"])
    area = data.study_area(codes)
    points = demand.population_grid(area, roads=network.edges_gdf(G), seats=data.seats, snap=G)
    seats = data.seats[data.seats["code"].isin(codes)].rename(columns={"code": "site_id"})
    tt = traveltime.travel_time_matrix(G, seats, points, cutoff_minutes)
    best = tt.min_time_per_demand()
    pop = points["population"].to_numpy()
    rows = []
    for rec in area.itertuples():
        standard = 12.0 if rec.norm_class == "urban" else 20.0
        mine = points["district_code"].to_numpy() == rec.code
        within = pop[mine & (best <= standard)].sum()
        est = pop[mine & tt.estimated].sum()
        rows.append((f"{rec.name_zh} {rec.name_en}",
                     f"{within / pop[mine].sum():.0%} of {pop[mine].sum():,} residents within {standard:.0f} min "
                     f"of a district seat; {est / pop[mine].sum():.0%} on estimated (off-network) times"))
    rows.append(("matrix", f"{tt.shape[0]} seats × {tt.shape[1]:,} demand points, {tt.minutes.nnz:,} pairs "
                           f"within {cutoff_minutes:.0f} min"))
    rows.append(("note", "population per grid cell is an estimate (dasymetric model, healthopt/demand.py)"))
    return rows


def network_report(source=None, cutoff_minutes: float = 30.0, use_cache: bool = True) -> dict:
    """Build or load the road graph and summarise it plus seat-to-population travel times."""
    import time

    from healthopt import network
    from healthopt.data.dataset import load_taiyuan

    data = load_taiyuan()
    t0 = time.perf_counter()
    G = network.load_graph(source or data.roads_path, use_cache=use_cache)
    seconds = time.perf_counter() - t0
    return {
        "Road graph (© OpenStreetMap contributors, ODbL)": _graph_rows(network.graph_summary(G), seconds),
        "Travel-time summary (Taiyuan, from district seats)": _access_rows(data, G, cutoff_minutes),
    }

"""Every location model builds and solves on the embedded Taiyuan data (迎泽区)."""

import numpy as np
import pytest

from healthopt import demand, network, sites, traveltime
from healthopt.data import load_taiyuan
from healthopt.models import LSCP, MCLP, MEXCLP, BackupCoverage, PCenter, PMedian

RADIUS = 10.0


@pytest.fixture(scope="module")
def instance():
    data = load_taiyuan()
    area = data.study_area(["140106"])
    G = network.load_graph(data.roads_path)
    points = demand.population_grid(area, roads=network.edges_gdf(G), seats=data.seats, snap=G)
    cand = sites.candidate_sites(G, spacing_m=1000, districts=area, boundary=area.union_all())
    cand = cand[cand["district_code"] == "140106"].reset_index(drop=True)
    tt = traveltime.travel_time_matrix(G, cand, points, 30.0)
    reached = np.asarray(tt.coverage(RADIUS).sum(axis=0)).ravel() > 0
    points = points[reached].reset_index(drop=True)
    tt = traveltime.travel_time_matrix(G, cand, points, 30.0)
    return tt, points["population"].to_numpy(float)


def test_every_model_solves(instance):
    tt, w = instance
    total = w.sum()
    models = {
        "lscp": LSCP.from_travel_times(tt, w, RADIUS),
        "mclp": MCLP.from_travel_times(tt, w, RADIUS, 3),
        "pmedian": PMedian.from_travel_times(tt, w, 3),
        "pcenter": PCenter.from_travel_times(tt, w, 3),
        "dsm": BackupCoverage.from_travel_times(tt, w, 6.0, RADIUS, 6, alpha=0.3),
        "mexclp": MEXCLP.from_travel_times(tt, w, RADIUS, 6, 0.3),
    }
    results = {name: m.solve(time_limit=60) for name, m in models.items()}
    for name, r in results.items():
        assert r.has_solution, name
    lscp = results["lscp"]
    assert lscp.coverage["covered"].all()  # every resident within 10 min
    mclp = results["mclp"]
    assert 0 < mclp.objective <= total and len(mclp.open_sites) == 3
    # Bounds checkable by hand from the matrix: nobody travels less than to the nearest candidate.
    coo = tt.minutes.tocoo()
    dense = np.full(coo.shape, np.inf)
    dense[coo.row, coo.col] = coo.data
    nearest = dense.min(axis=0)  # every point is reached within RADIUS (the instance keeps no other)
    assert np.isfinite(nearest).all() and nearest.max() <= RADIUS
    pcenter, pmedian = results["pcenter"].objective, results["pmedian"].objective
    assert nearest.max() - 1e-6 <= pcenter <= 30.0
    assert pmedian >= float(w @ nearest) - 1e-6 * total
    # 3 sites cover everyone within RADIUS exactly when the fewest covering sites (LSCP) are at most 3
    assert (len(lscp.open_sites) <= 3) == (pcenter <= RADIUS + 1e-6)

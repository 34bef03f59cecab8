"""The plan registry: a new plan is one class plus one registry entry, and every plan gets the same settings.

One small run (迎泽区 with the planner's own two stations, no map or report) with the shipped
plans plus :class:`DistrictCount`, a complete toy plan defined here. Every plan's ``solve`` is
wrapped to record the :class:`SolverSettings` it receives. Between building the shared inputs
and planning, the stations file is overwritten: ``summary.json`` must carry the hash of the
bytes the inputs were built from.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from pathlib import Path
from typing import Any, ClassVar

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest

from healthopt.milp.settings import SolverSettings
from healthopt.pipeline.run import prepare_inputs, run_prepared
from healthopt.plans import ambulances, beds, primary_care
from healthopt.plans.base import Inputs, PlanContext, PlanLayers, PlanSummary
from healthopt.plans.registry import PLANS
from healthopt.scenario import Scenario, load_scenario

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "scenarios" / "taiyuan_2025_baseline.yaml"
STATIONS = Path(__file__).resolve().parent / "fixtures" / "user_layers" / "stations_gcj02.csv"


class DistrictCount:
    """A toy plan: counts the study area's districts (no solver), with a layer, columns and a section."""

    name: ClassVar[str] = "district_count"
    step: ClassVar[str] = "district count"

    def __init__(self, area: gpd.GeoDataFrame) -> None:
        self.area = area

    @classmethod
    def enabled(cls, scenario: Scenario) -> bool:
        return True

    @classmethod
    def from_scenario(cls, scenario: Scenario, inputs: Inputs, context: PlanContext) -> DistrictCount:
        return cls(inputs.area)

    def solve(self, settings: SolverSettings) -> int:
        return len(self.area)

    def layers(self, result: int) -> PlanLayers:
        seats = gpd.GeoDataFrame({"code": self.area["code"].to_numpy()},
                                 geometry=self.area.geometry.representative_point().to_numpy(), crs=self.area.crs)
        return PlanLayers(layers={"district_points": seats},
                          districts=pd.DataFrame({"code": self.area["code"], "counted": 1}))

    def summary(self, result: int) -> PlanSummary:
        return PlanSummary(kpis={"districts_counted": result}, notes=[f"Counted {result} districts."],
                           section={"districts": result})


def _spy(cls: type, seen: list[tuple[str, SolverSettings]]) -> type:
    """Return a subclass of plan ``cls`` whose ``solve`` records the settings it receives."""

    def solve(self: Any, settings: SolverSettings) -> Any:
        seen.append((cls.name, settings))
        return cls.solve(self, settings)

    return type(cls.__name__, (cls,), {"solve": solve})


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("registry")
    stations = tmp / "stations.csv"  # S1 of the fixture: the one in 迎泽区
    stations.write_text("".join(STATIONS.read_text(encoding="utf-8").splitlines(keepends=True)[:2]), encoding="utf-8")
    original = hashlib.sha256(stations.read_bytes()).hexdigest()
    data = load_scenario(BASELINE).resolved_dict()
    data["name"] = "one_district"
    data["area"] = {"districts": ["140106"], "urban": ["140106"]}
    data["data"]["stations"] = {"path": str(stations), "crs": "gcj02", "capacity_field": "vehicles"}
    data["plans"]["ambulances"]["max_new_stations"] = 10
    data["solver"].update({"time_limit_s": 45.0, "gap": 0.0})
    data["outputs"].update({"map": False, "report": False})
    sc = Scenario.from_dict(data, source=BASELINE, base_dir=BASELINE.parent)
    inputs = prepare_inputs(sc)
    stations.write_bytes(stations.read_bytes() + b"S9,changed after it was read,112.5,37.8,1\n")
    seen: list[tuple[str, SolverSettings]] = []
    plans = [*(_spy(cls, seen) for cls in PLANS), DistrictCount]
    models: dict[str, dict[str, Any]] = {}  # what each plan passed on to its model's solve
    with pytest.MonkeyPatch.context() as mp:
        for name, owner, attr in (("ambulances", ambulances.AmbulancePlan, "solve"), ("beds", beds.BedPlan, "solve"),
                                  ("primary_care", primary_care, "site_health_centres")):
            mp.setattr(owner, attr, _recording(getattr(owner, attr), models.setdefault(name, {})))
        out = run_prepared(sc, inputs, tmp / "runs" / sc.name, plans=plans)
    return out, seen, original, models


def _recording(fn: Any, into: dict[str, Any]) -> Any:
    """Return ``fn`` that first keeps its ``time_limit`` and ``gap`` arguments in ``into``."""
    signature = inspect.signature(fn)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        into.update(time_limit=bound.arguments["time_limit"], gap=bound.arguments["gap"])
        return fn(*args, **kwargs)

    return wrapper


def test_toy_plan_layer_columns_and_summary_section_appear(run):
    out, _, _, _ = run
    summary = json.loads((out.folder / "summary.json").read_text(encoding="utf-8"))
    assert summary["district_count"] == {"districts": 1}
    assert summary["kpis"]["districts_counted"] == 1
    assert summary["data_quality"][-1] == "Counted 1 districts."
    assert "district_points" in {name for name, _ in pyogrio.list_layers(out.folder / "results.gpkg")}
    points = pyogrio.read_dataframe(out.folder / "results.gpkg", layer="district_points")
    assert list(points["code"]) == ["140106"]
    districts = pyogrio.read_dataframe(out.folder / "results.gpkg", layer="districts")
    assert list(districts["counted"]) == [1]
    # the shipped plans ran too, their columns before the toy's (registry order)
    assert list(districts.columns).index("amb_planned") < list(districts.columns).index("counted")


def test_every_plan_gets_the_runs_settings_unchanged(run):
    out, seen, _, _ = run
    # green channel is off in the baseline; the others ran, in registry order (workforce solves nothing)
    assert [name for name, _ in seen] == ["ambulances", "primary_care", "beds", "workforce"]
    settings = {s for _, s in seen}
    assert len(settings) == 1  # one value, equal for all (frozen dataclass)
    (given,) = settings
    assert given.gap == 0.0 and given.time_limit_s == 45.0 and given.threads == 2
    assert given.log_dir is not None and given.log_dir.name != out.folder.name  # the temporary folder
    assert (out.folder / "solver_ambulances.log").is_file() and (out.folder / "solver_beds.log").is_file()


def test_models_solve_with_the_settings_as_given(run):
    out, _, _, models = run
    # no gap floor for the ambulances, no 30 s cap for health centres, beds no longer unlimited
    assert models == {name: {"time_limit": 45.0, "gap": 0.0} for name in ("ambulances", "beds", "primary_care")}
    summary = json.loads((out.folder / "summary.json").read_text(encoding="utf-8"))
    assert summary["solver"]["gap_requested"] == 0.0
    # gap 0 means prove optimality: "optimal", not "optimal within the requested gap"
    assert summary["solver"]["plans"]["ambulances"]["status"] == "optimal"
    assert summary["optimal"] is True and summary["solver"]["reproducible"] is True


def test_input_hash_is_taken_when_the_file_is_read(run):
    out, _, original, _ = run
    summary = json.loads((out.folder / "summary.json").read_text(encoding="utf-8"))
    assert summary["inputs"]["layers"]["stations"] == {"name": "stations.csv", "sha256": original}
    stations = out.layers["stations"]
    assert "user-stations-S9" not in set(stations["site_id"])  # the plan used the bytes that were hashed


def test_headline_status_folds_an_unfinished_plan_in():
    from healthopt.pipeline.results import headline
    from healthopt.plans.base import PlanOutcome

    amb = PlanOutcome("optimal", True, 0.0, headline=True)
    pc = PlanOutcome("time limit reached — best plan found, not proven optimal", False, label="health centres")
    assert headline([amb, pc]) == ("health centres: time limit reached — best plan found, not proven optimal",
                                   False, None)
    stopped = PlanOutcome("time limit reached", False, 0.002, headline=True)
    assert headline([stopped, pc]) == ("time limit reached", False, 0.002)  # the headline plan's own words
    assert headline([pc]) == ("health centres: time limit reached — best plan found, not proven optimal",
                              False, None)
    assert headline([]) == ("no optimisation run", True, None)


def test_summary_assembly_marks_unfinished_and_relaxed_plans():
    from healthopt.pipeline.results import assemble_summary
    from healthopt.plans.base import PlanOutcome

    parts = [
        ("ambulances", PlanSummary(kpis={"fleet_planned": 5}, notes=["amb"], solver={"status": "optimal"},
                                   outcome=PlanOutcome("optimal", True, 0.0, headline=True),
                                   relaxed=["甲区 (A): 2 ambulances against the fleet norm of 3 (short 1)"],
                                   infeasible_reasons=["the budget allows 2"])),
        ("beds", PlanSummary(notes=["beds"], solver={"status": "time limit"},
                             outcome=PlanOutcome("time limit", False, label="beds"))),
    ]
    out = assemble_summary(head={"scenario": {"name": "x"}, "kpis": {"pop_total": 9}}, tail={"versions": {}},
                           parts=parts, settings=SolverSettings(name="highs", gap=0.01), notes=["first"],
                           late_notes=["last"], not_reproducible="NR")
    assert out["kpis"] == {"pop_total": 9, "fleet_planned": 5}
    assert out["status"] == "best plan under relaxed norms (beds: time limit)" and out["optimal"] is False
    assert out["solver"]["plans"] == {"ambulances": {"status": "optimal"}, "beds": {"status": "time limit"}}
    assert out["solver"]["reproducible"] is False and out["solver"]["gap_requested"] == 0.01
    assert out["data_quality"][0].startswith("The budgets cannot meet 1 norms")
    assert out["data_quality"][1:] == ["NR", "first", "amb", "beds", "last"]
    assert out["norms_met"] is False and out["infeasible_reasons"] == ["the budget allows 2"]

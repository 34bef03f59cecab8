"""``summary.json`` read back: the :class:`RunSummary` shape is checked, a corrupt file is one error."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import pytest

from healthopt import cli
from healthopt.errors import InputError
from healthopt.outputs.summary import check_summary, read_summary

sys.path.insert(0, str(Path(__file__).parent))
from fixtures.run_fixture import make_run


@pytest.fixture(scope="module")
def summary() -> dict:
    return make_run("a")[1]


def _written(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "summary.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def test_a_whole_summary_reads_back_unchanged(tmp_path, summary):
    summary = copy.deepcopy(summary)
    summary["green_channel"] = {"pairs": 3}  # a plan's own section: kept, not checked
    assert read_summary(_written(tmp_path, summary)) == summary


def test_optional_keys_may_be_absent(summary):
    trimmed = copy.deepcopy(summary)
    for key in ("fleet_planned", "np_planned", "chc_planned", "staff"):  # KPIs of plans that did not run
        trimmed["kpis"].pop(key, None)
    assert "relaxed_norms" not in trimmed and "norms_met" not in trimmed
    assert check_summary(trimmed) is trimmed


@pytest.mark.parametrize(("edit", "field", "message"), [
    (lambda s: s.pop("kpis"), "kpis", "missing"),
    (lambda s: s["kpis"].update(pop_total="many"), "kpis.pop_total", "must be a whole number, got text"),
    (lambda s: s["scenario"].pop("year"), "scenario.year", "missing"),
    (lambda s: s.update(optimal="yes"), "optimal", "must be true or false, got text"),
    (lambda s: s.update(gap="0.1"), "gap", "must be a number or null, got text"),
    (lambda s: s["data_quality"].append(7), "data_quality[4]", "must be text, got a number"),
    (lambda s: s["solver"]["plans"]["ambulances"].update(optimal=1), "solver.plans.ambulances.optimal",
     "must be true or false"),
    (lambda s: s.update(relaxed_norms="fleet"), "relaxed_norms", "must be a list, got text"),
])
def test_a_damaged_summary_names_the_file_and_the_key(tmp_path, summary, edit, field, message):
    broken = copy.deepcopy(summary)
    edit(broken)
    path = _written(tmp_path, broken)
    with pytest.raises(InputError) as info:
        read_summary(path)
    assert info.value.source == str(path) and info.value.field == field
    assert message in info.value.message


def test_not_json_or_not_an_object(tmp_path):
    path = tmp_path / "summary.json"
    path.write_text('{"scenario": ', encoding="utf-8")
    with pytest.raises(InputError, match=r"summary\.json: not valid JSON"):
        read_summary(path)
    with pytest.raises(InputError, match=r"summary\.json: must be an object, got a list"):
        read_summary(_written(tmp_path, [1, 2]))


def test_provenance_of_an_older_run_is_not_a_reason_to_refuse_it(summary):
    """Runs written before inputs were named by file name (``path`` keys) still compare."""
    older = copy.deepcopy(summary)
    older["inputs"]["scenario"] = {"path": "/home/me/a.yaml", "sha256": "0" * 64}
    assert check_summary(older) is older
    older["inputs"] = "gone"
    with pytest.raises(InputError, match="inputs: must be an object"):
        check_summary(older)


def test_compare_of_a_run_with_a_damaged_summary_exits_2(tmp_path, monkeypatch, capsys, summary):
    folders = []
    for name, variant in (("a", "a"), ("b", "b")):
        results, s = make_run(variant)
        folder = tmp_path / name
        folder.mkdir()
        for layer, gdf in results.items():
            gdf.to_file(folder / "results.gpkg", layer=layer, driver="GPKG")
        if name == "b":
            s["kpis"]["pop_covered"] = "lots"
        _written(folder, s)
        folders.append(folder)
    out = tmp_path / "cmp"
    monkeypatch.setattr(sys, "argv", ["healthopt", "compare", str(folders[0]), str(folders[1]), "-o", str(out)])
    with pytest.raises(SystemExit) as exit_info:
        cli.run()
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert exit_info.value.code == 2
    assert err == [f"error: {folders[1] / 'summary.json'}: kpis.pop_covered: must be a whole number, got text"]
    assert not out.exists()


def test_batch_summary_refuses_a_damaged_member_record_and_reads_a_whole_one(tmp_path, summary):
    from healthopt.batch.runner import STATUS_DIR, BatchRun
    from healthopt.batch.sweep import load_batch
    from healthopt.outputs.batch import summary_frame

    base = Path(__file__).resolve().parent.parent / "scenarios" / "taiyuan_2025_baseline.yaml"
    sweep = tmp_path / "s.yaml"
    sweep.write_text(f"""sweep:
  name: t
  base: {base}
  set:
    area.districts: ["140106"]
    area.urban: ["140106"]
  grid:
    plans.ambulances.max_vehicles: [10, 12]
""", encoding="utf-8")
    batch = load_batch(sweep)
    good, bad = copy.deepcopy(summary), copy.deepcopy(summary)
    bad["kpis"]["fleet_planned"] = "ten"
    records = [{"status": "ok", "message": "optimal", "summary": good}, {"status": "ok", "message": "optimal"}]
    frame = summary_frame(BatchRun(batch, tmp_path, records, [], []))
    assert frame["fleet_planned"].tolist()[0] == summary["kpis"]["fleet_planned"]
    assert frame["optimal"].tolist()[0] is summary["optimal"] and frame["gap"].tolist()[0] == summary["gap"]
    records[1]["summary"] = bad
    with pytest.raises(InputError) as info:
        summary_frame(BatchRun(batch, tmp_path, records, [], []))
    assert info.value.field == "kpis.fleet_planned"
    assert info.value.source == str(tmp_path / STATUS_DIR / f"{batch.members[1].name}.json")


def test_batch_study_area_is_the_members_own_boundaries(tmp_path, scenario_file):
    """The batch summary draws a member's own boundaries layer (outputs no longer call the pipeline for it)."""

    from healthopt.batch.runner import BatchRun
    from healthopt.batch.sweep import load_batch
    from healthopt.data import load_taiyuan
    from healthopt.outputs.batch import summary_frame

    embedded = load_taiyuan().study_area(["140106"])
    own = embedded[["code", "geometry"]].copy()
    own["geometry"] = own.geometry.simplify(0.003)  # a coarser outline than the embedded one
    own.to_file(tmp_path / "mine.geojson", driver="GeoJSON")
    path = scenario_file({"data.boundaries": {"path": str(tmp_path / "mine.geojson"), "crs": "WGS84",
                                              "code_field": "code"},
                          "area.districts": ["140106"], "area.urban": ["140106"]}, file_name="own")
    members = tmp_path / "members"
    members.mkdir()
    path.rename(members / path.name)
    batch = load_batch(members)
    frame = summary_frame(BatchRun(batch, tmp_path, [{"status": "failed", "message": "x"}], [], []))
    assert frame.crs == "EPSG:4326" and len(frame) == 1
    outline = frame.geometry.iloc[0]
    assert outline.symmetric_difference(own.geometry.iloc[0]).area < 1e-12
    assert outline.symmetric_difference(embedded.geometry.iloc[0]).area > 1e-6  # not the embedded shape
    source_text = (Path(__file__).resolve().parent.parent / "healthopt" / "outputs" / "batch.py").read_text()
    assert "healthopt.pipeline" not in source_text

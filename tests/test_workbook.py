"""Excel workbook of a run and of a batch: opens, totals equal summary.json, numbers, safety, bytes."""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from healthopt.outputs.fields import flatten
from healthopt.outputs.workbook import WORKBOOK_NAME, parameter_rows, write_batch_workbook, write_workbook
from healthopt.scenario import load_scenario

sys.path.insert(0, str(Path(__file__).parent))
from fixtures.run_fixture import make_run

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "scenarios" / "taiyuan_2025_baseline.yaml"


def _table(ws) -> pd.DataFrame:
    """Rows under the two header rows, columns named by the field-name row (row 2)."""
    rows = list(ws.iter_rows(values_only=True))
    fields = [f for f in rows[1] if f is not None]
    body = []
    for r in rows[2:]:
        if all(v is None for v in r[:len(fields)]):
            break  # a blank row ends the table (a note may follow)
        body.append(r[:len(fields)])
    return pd.DataFrame(body, columns=fields)


def _kpis(wb) -> dict:
    t = _table(wb["指标 KPIs"])
    return dict(zip(t["key"], t["value"], strict=True))


@pytest.fixture(scope="module")
def run_a():
    return make_run("a")


@pytest.fixture(scope="module")
def book(run_a, tmp_path_factory):
    path = tmp_path_factory.mktemp("wb") / WORKBOOK_NAME
    write_workbook(path, layers=run_a[0], summary=run_a[1], scenario=load_scenario(BASELINE))
    return path


def test_sheets_and_bilingual_headers(book):
    wb = openpyxl.load_workbook(book)
    assert wb.sheetnames == ["指标 KPIs", "区县 Districts", "急救站 Stations", "基层 Health centres", "床位 Beds",
                             "参数 Parameters", "说明 Notes", "字段说明 Fields"]
    ws = wb["区县 Districts"]
    assert ws["F1"].value == "常住人口 / Resident population" and ws["F2"].value == "residents"
    assert ws.freeze_panes == "A3"


def test_kpis_and_district_totals_equal_the_summary(book, run_a):
    districts, summary = run_a[0]["districts"], run_a[1]
    wb = openpyxl.load_workbook(book)
    kpis = _kpis(wb)
    for key, value in flatten(summary["kpis"]):
        assert kpis[key] == pytest.approx(value), key
    t = _table(wb["区县 Districts"])
    body, total = t.iloc[:-1], t.iloc[-1]
    assert total["code"] == "合计 Total" and list(body["code"]) == list(districts["code"])
    # fixture: 226 vehicles on 11 stations, 92 negative pressure (tests/test_report.py spells them out)
    assert total["amb_planned"] == summary["kpis"]["fleet_planned"] == 226
    assert total["amb_np_planned"] == summary["kpis"]["np_planned"] == 92
    for col, key in (("amb_norm", "fleet_norm"), ("pop_covered", "pop_covered"), ("chc_planned", "chc_planned"),
                     ("pop_beyond_capacity", "pop_beyond_capacity"), ("pop_outside", "pop_outside"),
                     ("thc_planned", "thc_planned")):
        assert total[col] == body[col].sum() == summary["kpis"][key], col
    pops = summary["kpis"]["pop_covered"] + summary["kpis"]["pop_beyond_capacity"] + summary["kpis"]["pop_outside"]
    assert total["coverage_share"] == pytest.approx(summary["kpis"]["pop_covered"] / pops, abs=1e-6)
    assert total["beds_per_1000_planned"] == pytest.approx(summary["kpis"]["beds_planned_per_1000"], abs=0.005)
    # the station sheet holds the same vehicles as the district total
    stations = _table(wb["急救站 Stations"])
    assert stations["vehicles"].sum() == 226 and {"lon", "lat"} <= set(stations.columns)


def test_numbers_are_numbers_with_formats(book):
    ws = openpyxl.load_workbook(book)["区县 Districts"]
    fields = [c.value for c in ws[2]]
    col = {f: i + 1 for i, f in enumerate(fields)}
    for row in range(3, ws.max_row + 1):
        cell = ws.cell(row=row, column=col["residents"])
        if cell.value is None:
            continue
        assert cell.data_type == "n" and isinstance(cell.value, int) and cell.number_format == "#,##0"
        share = ws.cell(row=row, column=col["coverage_share"])
        assert isinstance(share.value, float) and share.number_format == "0.0%"
    assert ws.cell(row=3, column=col["code"]).data_type == "s"  # codes stay text (leading digits kept)


def test_formula_like_text_stays_text(run_a, tmp_path):
    layers = {k: v.copy() for k, v in run_a[0].items()}
    nasty = ['=HYPERLINK("http://example.invalid","x")', "@SUM(A1:A9)", "+cmd|' /C calc'!A0", "-2+3", "\x07bell"]
    layers["stations"].loc[:4, "name"] = nasty
    summary = json.loads(json.dumps(run_a[1]))
    summary["scenario"]["name"] = "=1+1"
    path = tmp_path / "x.xlsx"
    write_workbook(path, layers=layers, summary=summary)
    wb = openpyxl.load_workbook(path)
    assert all(c.data_type != "f" for ws in wb for row in ws.iter_rows() for c in row)
    names = _table(wb["急救站 Stations"])["name"].tolist()
    assert names[:4] == nasty[:4] and names[4] == "bell"  # a control character cannot be stored: dropped
    ws = wb["急救站 Stations"]
    quoted = [c for c in ws["B"] if isinstance(c.value, str) and c.value[:1] in "=@+-"]
    assert len(quoted) == 4 and all(c.quotePrefix for c in quoted)
    with zipfile.ZipFile(path) as z:
        xml = "".join(z.read(n).decode() for n in z.namelist() if n.startswith("xl/worksheets/"))
    assert "<f>" not in xml


def test_same_run_same_bytes(run_a, tmp_path):
    a, b = tmp_path / "a.xlsx", tmp_path / "b.xlsx"
    write_workbook(a, layers=run_a[0], summary=run_a[1])
    write_workbook(b, layers=run_a[0], summary=run_a[1])
    assert a.read_bytes() == b.read_bytes()
    with zipfile.ZipFile(a) as z:  # no clock in the file: fixed member stamps and document dates
        assert {i.date_time for i in z.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        assert "1970-01-01T00:00:00Z" in z.read("docProps/core.xml").decode()


def test_new_summary_figures_flow_in(run_a, tmp_path):
    summary = json.loads(json.dumps(run_a[1]))
    summary["kpis"]["a_new_kpi"] = 7
    summary["ambulances"] = {"simulated": {"share_reached": 0.8125, "calls": 1200}}
    summary["workforce"] = {"physicians_needed": 3100}
    path = tmp_path / "x.xlsx"
    write_workbook(path, layers=run_a[0], summary=summary)
    wb = openpyxl.load_workbook(path)
    kpis = _kpis(wb)
    assert kpis["a_new_kpi"] == 7 and kpis["ambulances.simulated.share_reached"] == 0.8125
    assert kpis["ambulances.simulated.calls"] == 1200 and kpis["workforce.physicians_needed"] == 3100
    staff = _table(wb["人员 Staff"])
    assert dict(zip(staff["key"], staff["value"], strict=True))["workforce.physicians_needed"] == 3100
    fields = _table(wb["字段说明 Fields"])
    assert ("指标 KPIs", "a_new_kpi") in set(zip(fields["sheet"], fields["field"], strict=True))


def test_parameters_say_where_each_value_comes_from():
    sc = load_scenario(BASELINE).with_overrides({"network.congestion": 1.4})
    rows = {r[0]: r for r in parameter_rows(sc, scenario_file="x.yaml")}
    urban = rows["plans.ambulances.per_residents.urban"]
    assert urban[1] == 30000 and "norms.csv ambulance.residents_per_vehicle.urban" in urban[3]
    assert urban[4] == "official" and "§四(三)1" in urban[3]
    assert rows["network.congestion"][1:5] == [1.4, "情景 scenario", "x.yaml", "as given"]
    assert rows["plans.beds.targets.140105"][1] == 7.8 and "annex 1" in rows["plans.beds.targets.140105"][3]
    assert rows["response_minutes.urban"][4] == "estimate"  # not in the seeds: NORMS.md suggestion


def test_batch_workbook_one_row_per_member(tmp_path):
    frame = pd.DataFrame({"scenario": ["m-1", "m-2", "=bad"], "status": ["ok", "ok", "failed"],
                          "fleet_planned": [200, 233, None], "coverage_share": [0.81, 0.86, None]})
    path = write_batch_workbook(tmp_path / "batch_summary.xlsx", frame, title="t")
    wb = openpyxl.load_workbook(path)
    t = _table(wb["成员 Members"])
    assert t["scenario"].tolist() == ["m-1", "m-2", "=bad"] and t["fleet_planned"].tolist()[:2] == [200, 233]
    assert wb["成员 Members"]["C3"].data_type == "n"
    assert all(c.data_type != "f" for ws in wb for row in ws.iter_rows() for c in row)


@pytest.mark.slow
def test_run_writes_a_workbook_equal_to_its_summary(baseline_run):
    folder = baseline_run.folder
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    wb = openpyxl.load_workbook(folder / WORKBOOK_NAME)
    kpis = _kpis(wb)
    for key, value in flatten(summary["kpis"]):
        assert kpis[key] == value, key
    total = _table(wb["区县 Districts"]).iloc[-1]
    assert total["amb_planned"] == summary["kpis"]["fleet_planned"]
    assert total["pop_covered"] == summary["kpis"]["pop_covered"]
    assert total["chc_planned"] == summary["kpis"]["chc_planned"]
    staff = _table(wb["人员 Staff"])
    assert dict(zip(staff["key"], staff["value"], strict=True))["staff.nurse"] == summary["kpis"]["staff"]["nurse"]
    assert "参数 Parameters" in wb.sheetnames

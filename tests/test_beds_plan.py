"""The bed plan and the staff norms to the letter of seed 001, every figure re-derived by hand.

Census residents (2020, ``population/census2020_resident_population.csv``) used below:
小店区 1,357,242 · 迎泽区 594,238 · 杏花岭区 779,479 · 尖草坪区 530,499 · 万柏林区 951,238 ·
晋源区 316,445 · 清徐县 344,472 · 阳曲县 128,483 · 娄烦县 91,208 · 古交市 210,757;
Taiyuan 5,304,061.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from healthopt.plans.beds import BedPlan
from healthopt.plans.workforce import staff_needed
from healthopt.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "scenarios" / "taiyuan_2025_baseline.yaml"
SURGE = ROOT / "scenarios" / "taiyuan_infectious_surge.yaml"
SEED_001 = Path("/work/shared/seeds/001_68213d4c40b9f67c.txt")

RESIDENTS = {"140105": 1357242, "140106": 594238, "140107": 779479, "140108": 530499, "140109": 951238,
             "140110": 316445, "140121": 344472, "140122": 128483, "140123": 91208, "140181": 210757}
#: Annex 1, 2025 guideline per 1,000.
GUIDELINE = {"140105": 7.80, "140106": 17.01, "140107": 11.77, "140108": 8.93, "140109": 9.17, "140110": 7.51,
             "140121": 7.64, "140122": 9.76, "140123": 7.52, "140181": 7.51}


@pytest.fixture(scope="module")
def data():
    from healthopt.data import load_taiyuan

    return load_taiyuan()


def _bed_plan(data, tmp_path, overrides=None, scenario=BASELINE):
    """The bed plan of a scenario, alone (no road graph, no ambulance solve)."""
    from healthopt.milp.settings import SolverSettings
    from healthopt.pipeline.run import study_area
    from healthopt.plans.base import Inputs, PlanContext
    from healthopt.plans.beds import Beds

    sc = load_scenario(scenario).with_overrides(overrides or {})
    inputs = Inputs("-", data, study_area(sc, data), None, tmp_path, None, None, None, None)
    beds = Beds.from_scenario(sc, inputs, PlanContext(None, None))
    result = beds.solve(SolverSettings(log_dir=tmp_path, time_limit_s=20.0))
    return beds, result


@pytest.fixture(scope="module")
def baseline_beds(data, tmp_path_factory):
    return _bed_plan(data, tmp_path_factory.mktemp("beds"))


# --------------------------------------------------------------------------- norms table against the seed text


SEED_QUOTES = {
    # 001 §三(二)3(5): infectious-disease bed minimums and ICU shares (was cited as §四(一)2)
    "beds.infectious_min.140121": ("§三(二)3(5)", "清徐县不低于 50 张床位"),
    "beds.infectious_min.140122": ("§三(二)3(5)", "阳曲县、娄烦县、古交市不低于 20 张床位"),
    "beds.icu_share.secondary_min": ("§三(二)3(5)", "二级医院按照 2%—5% 比例设置重症病床"),
    "beds.icu_share.tertiary_max": ("§三(二)3(5)", "三级医院按照 5%—8% 比例设置重症病床"),
    # 001 §四(一)2: the efficiency rule (was cited as §三(二))
    "beds.efficiency.occupancy_min": ("§四(一)2", "公立综合医院床位使用率低于75%、平均住院日超过9天"),
    "beds.efficiency.avg_stay_max_days": ("§四(一)2", "公立综合医院床位使用率低于75%、平均住院日超过9天"),
    # 001 §一(一)3: 2022 occupancy and stay
    "beds.occupancy_2022_citywide": ("§一(一)3", "床位使用率 70.39%"),
    "beds.avg_stay_days_2022_citywide": ("§一(一)3", "平均住院日 10.9 天"),
    # 001 §三(三): the CHC norm in the seed's own words (not "街道办事处范围")
    "primary_care.chc_per_street": ("§三(三)", "每个街道设有1所社区卫生服务中心"),
    "primary_care.chc_extra_threshold": ("§三(三)",
                                         "常住人口超过10万的,原则上每新增5—10万人,可增设1所社区卫生服务中心"),
    "beds.paediatric_per_1000_children_2025": ("§三(二)3(3)", "床位增至 3.17 张"),
    "staff.doctor_nurse_ratio_2025": ("§二(三) table; §四(二)2", "医护比达到1:1.35"),
}


@pytest.mark.parametrize("key", sorted(SEED_QUOTES))
def test_norm_rows_cite_the_seed_section_and_words(key):
    from healthopt.scenario.defaults import norm_row

    section, words = SEED_QUOTES[key]
    row = norm_row(key)
    assert row.section == section
    assert words.split("……")[0] in row.note
    if SEED_001.is_file():  # the seed itself, where the machine has it: the quoted words are in it
        text = "".join(SEED_001.read_text(encoding="utf-8").split())
        assert "".join(words.split()) in text


def test_norm_values_match_the_seed():
    from healthopt.scenario.defaults import norm_float

    assert norm_float("beds.citywide_per_1000_2025") == 9.56
    assert (norm_float("beds.occupancy_2022_citywide"), norm_float("beds.avg_stay_days_2022_citywide")) == (
        0.7039, 10.9)
    assert (norm_float("beds.psychiatric_per_1000_2025"), norm_float("beds.tcm_public_per_1000_2025")) == (0.78, 0.85)
    assert norm_float("beds.paediatric_per_1000_children_2025") == 3.17
    assert [norm_float(f"staff.{k}") for k in ("physicians_per_1000_2025", "nurses_per_1000_2025",
                                                "pharmacists_per_1000_2025", "public_health_per_1000_2025",
                                                "gp_per_10000_2025")] == [6, 6.5, 0.54, 0.83, 3.5]


# --------------------------------------------------------------------------- the one city-wide figure


def test_citywide_figure_reconciles_by_hand(baseline_beds):
    _, r = baseline_beds
    # District targets: ceil(guideline x residents / 1000) per district.
    targets = {c: math.ceil(GUIDELINE[c] * RESIDENTS[c] / 1000 - 1e-9) for c in RESIDENTS}
    assert targets["140105"] == 10587 and targets["140106"] == 10108  # 10,586.49 -> 10,587; 10,107.99 -> 10,108
    assert sum(targets.values()) == 51863
    residents = sum(RESIDENTS.values())
    assert residents == 5304061
    # Every district reaches its guideline (shed districts reduce down to it): 51,863 beds.
    assert r.citywide["beds_planned_districts"] == 51863
    # Municipal hospitals of unknown district, annex 2 growth 2022 -> 2025 (人民医院 stopped by the
    # efficiency rule at the city's 2022 averages): 二院 800-710 + 三院 850-450 + 四院 0 + 精神 625-525
    # + 妇幼 0 + 中医 600-400 + 八院 350-310 + 九院 200-107 = 90 + 400 + 100 + 200 + 40 + 93 = 923.
    assert r.citywide["municipal_beds_unlocated"] == 923
    assert r.citywide["beds_planned"] == 51863 + 923 == 52786
    assert r.citywide["planned_per_1000"] == pytest.approx(52786 / 5304061 * 1000)  # 9.952
    assert r.citywide["district_targets_per_1000"] == pytest.approx(51863 / 5304061 * 1000)  # 9.778
    assert r.citywide["target_per_1000"] == 9.56
    sentence = r.citywide["reconciliation"]
    assert "9.95 beds per 1,000" in sentence and "target of 9.56" in sentence
    assert "sum to 9.78" in sentence and "add 923 new beds (0.17 per 1,000)" in sentence  # 923/5,304,061


def test_summary_and_layers_carry_the_citywide_figure(baseline_beds):
    beds, r = baseline_beds
    s = beds.summary(r)
    assert s.kpis["beds_planned_per_1000"] == r.citywide["planned_per_1000"]
    assert s.kpis["citywide_target_per_1000"] == 9.56
    assert s.kpis["beds_planned"] == 52786
    assert s.section is not None and s.section["citywide"]["municipal_beds_unlocated"] == 923
    d = beds.layers(r).districts
    assert d is not None and int(d["beds_planned"].sum()) + 923 == 52786
    assert {"beds_change", "infectious_beds", "icu_beds", "general_beds"} <= set(d.columns)


# --------------------------------------------------------------------------- efficiency rule


def test_efficiency_rule_at_city_averages_names_the_general_hospitals(baseline_beds):
    beds, r = baseline_beds
    h = r.hospitals.set_index("name_zh")
    # 70.39 % < 75 % and 10.9 days > 9: both public general hospitals (001 §五(二)2) get no new beds.
    assert h.loc["太原市中心医院", "beds_added"] == 0 and h.loc["太原市人民医院", "beds_added"] == 0
    assert h.loc["太原市中医医院", "beds_added"] == 200  # TCM hospitals are not under the rule
    stopped = {x["name"]: x for x in r.efficiency["no_new_beds"]}
    assert set(stopped) == {"太原市中心医院", "太原市人民医院"}
    assert stopped["太原市中心医院"]["beds_forgone"] == 400 and stopped["太原市人民医院"]["beds_forgone"] == 501
    assert {x["quality"] for x in stopped.values()} == {"estimate"}
    assert any("太原市人民医院 gets no new beds" in n for n in beds.summary(r).notes)


def test_efficiency_thresholds_change_the_plan(data, tmp_path):
    good = {"plans.beds.efficiency.hospitals": {"太原市中心医院": {"occupancy": 0.9, "avg_stay_days": 8.0},
                                                  "太原市人民医院": {"occupancy": 0.8, "avg_stay_days": 7.5}}}
    _, passes = _bed_plan(data, tmp_path, good)
    _, strict = _bed_plan(data, tmp_path, {**good, "plans.beds.efficiency.min_occupancy": 0.99,
                                           "plans.beds.efficiency.max_avg_stay_days": 1.0})
    grow = passes.hospitals.set_index("name_zh")["beds_added"]
    stop = strict.hospitals.set_index("name_zh")["beds_added"]
    assert (grow["太原市中心医院"], grow["太原市人民医院"]) == (2500 - 2100, 1000 - 499)
    assert (stop["太原市中心医院"], stop["太原市人民医院"]) == (0, 0)
    # 人民医院 has no district: its 501 beds leave the city-wide figure.
    assert passes.citywide["beds_planned"] - strict.citywide["beds_planned"] == 501
    assert {x["name"] for x in strict.efficiency["no_new_beds"]} == {"太原市中心医院", "太原市人民医院"}
    assert passes.efficiency["no_new_beds"] == []


def test_efficiency_rule_on_a_small_instance():
    targets = pd.DataFrame({"code": ["A"], "name_zh": ["甲区"], "residents": [100000], "beds_2022_estimate": [500],
                            "beds_2025_target": [700], "strategy": ["strengthen"]})
    hospitals = pd.DataFrame({"name_zh": ["H1", "H2"], "beds_2022": [200, 100], "beds_2025": [300, 150],
                              "level": ["tertiary", "secondary"], "district_code": ["A", "A"],
                              "kind": ["general", "psychiatric"], "occupancy_2022": [0.80, 0.50],
                              "avg_stay_days_2022": [8.5, 30.0]})
    r = BedPlan(targets, hospitals, citywide_per_1000=0.0).solve()
    assert r.hospitals["beds_added"].tolist() == [100, 50]  # 80 % >= 75 %, 8.5 <= 9; H2 is not general
    r = BedPlan(targets, hospitals, citywide_per_1000=0.0, min_occupancy=0.85).solve()
    assert r.hospitals["beds_added"].tolist() == [0, 50]
    assert r.districts["other_added"].iloc[0] == 700 - 500 - 50  # the district fills what H1 may not


# --------------------------------------------------------------------------- ICU and infectious beds


def test_icu_ranges_are_consistent_in_the_surge(data, tmp_path):
    _, r = _bed_plan(data, tmp_path, scenario=SURGE)
    h = r.hospitals.set_index("name_zh")
    assert (h["icu_min"] <= h["icu_max"]).all()
    # 5 %-5 % of 850: 42.5 -> ceil 43; the max may not fall below it (was 43-42).
    assert (h.loc["太原市第三人民医院", "icu_min"], h.loc["太原市第三人民医院", "icu_max"]) == (43, 43)
    assert (h.loc["太原市第八人民医院", "icu_min"], h.loc["太原市第八人民医院", "icu_max"]) == (18, 18)  # 17.5
    # tertiary 8 % of 2,100 (中心医院 keeps its 2022 beds under the efficiency rule) = 168
    assert h.loc["太原市中心医院", "icu_min"] == 168
    # no ICU range at the psychiatric and maternal-child hospitals (was 32-31 at 精神病医院)
    assert h.loc["太原市精神病医院", "icu_max"] == 0 and h.loc["太原市妇幼保健院", "icu_max"] == 0


def test_icu_at_specialist_hospitals_only_when_asked(data, tmp_path):
    _, r = _bed_plan(data, tmp_path, {"plans.beds.icu_share.specialist_hospitals": True})
    h = r.hospitals.set_index("name_zh")
    # secondary 2-5 % of 625 = 12.5 -> 13 .. 31.25 -> 31
    assert (h.loc["太原市精神病医院", "icu_min"], h.loc["太原市精神病医院", "icu_max"]) == (13, 31)


def test_surge_changes_infectious_and_icu_figures(data, tmp_path, baseline_beds):
    base_plan, base = baseline_beds
    surge_plan, surge = _bed_plan(data, tmp_path, scenario=SURGE)
    b, s = base_plan.summary(base).kpis, surge_plan.summary(surge).kpis
    # Baseline: county minimums 50 + 20 + 20 + 20 = 110, plus the infectious hospitals 三院 850 + 四院 1,000.
    assert b["infectious_beds_planned"] == 110 + 850 + 1000 == 1960
    # Surge: 100 + 40 + 40 + 40 = 220 plus the same hospitals.
    assert s["infectious_beds_planned"] == 220 + 1850 == 2070
    inf = surge.districts.set_index("code")["infectious_beds"]
    assert (inf["140121"], inf["140122"], inf["140123"], inf["140181"]) == (100, 40, 40, 40)
    # ICU at the low end (baseline) vs the top (surge), hospital by hospital (planned beds):
    # baseline ceil: 中心 5 % x 2,100 = 105; 人民 2 % x 499 = 9.98 -> 10; 二院 16; 三院 17; 四院 20;
    # 中医 12; 八院 7; 九院 4 -> 191.  Surge: 168 + 25 (24.95) + 40 + 43 + 50 + 30 + 18 + 10 = 384.
    assert b["icu_beds_planned"] == 105 + 10 + 16 + 17 + 20 + 12 + 7 + 4 == 191
    assert s["icu_beds_planned"] == 168 + 25 + 40 + 43 + 50 + 30 + 18 + 10 == 384


def test_infectious_minimum_is_not_a_total_bed_floor(data, tmp_path):
    # {140121: 3000} used to raise 清徐县's total beds to 3,000; now it is 3,000 infectious beds
    # designated within the district's planned beds (its target is ceil(7.64 x 344,472 / 1000) = 2,632).
    _, r = _bed_plan(data, tmp_path, {"plans.beds.infectious_min": {"140121": 2000}})
    row = r.districts.set_index("code").loc["140121"]
    assert row["beds_planned"] == 2632 and row["infectious_beds"] == 2000
    assert row["general_beds"] == 2632 - 2000


# --------------------------------------------------------------------------- other categories


def test_bed_categories_by_hand(baseline_beds):
    _, r = baseline_beds
    cats = {c["category"]: c for c in r.categories}
    # City-wide need = the districts' needs, each rounded up (so district columns add to it);
    # 0.78 x 5,304,061 / 1000 = 4,137.2 for the city as one, 4,141 as the sum of 10 ceilings.
    assert cats["psychiatric"]["need"] == sum(math.ceil(0.78 * n / 1000) for n in RESIDENTS.values()) == 4141
    assert cats["psychiatric"]["municipal"] == 625  # 精神病医院 2025
    assert cats["psychiatric"]["gap"] == 4141 - 625
    assert cats["tcm_public"]["need"] == sum(math.ceil(0.85 * n / 1000) for n in RESIDENTS.values()) == 4513
    assert cats["tcm_public"]["municipal"] == 600 + 350  # 中医医院 + 第八人民医院 (中西医结合, 001 §五(二)2)
    children = {c: round(n * 0.1555) for c, n in RESIDENTS.items()}  # 0-14 share 15.55 % (2020 census)
    assert sum(children.values()) == 824782  # the census counts 824,735 aged 0-14 in Taiyuan
    assert cats["paediatric"]["need"] == sum(math.ceil(3.17 * k / 1000) for k in children.values()) == 2618
    d = r.districts.set_index("code")
    assert d.loc["140105", "children_estimate"] == round(1357242 * 0.1555) == 211051
    assert d.loc["140105", "paediatric_beds_target"] == math.ceil(3.17 * 211051 / 1000) == 670  # 669.03
    assert d.loc["140105", "psychiatric_beds_target"] == math.ceil(0.78 * 1357.242) == 1059  # 1,058.65


# --------------------------------------------------------------------------- Jinzhong


def test_jinzhong_units_get_bed_rows_at_the_citywide_rate(data, tmp_path):
    area = {"area.districts": ["140105", "140702", "140703"]}
    _, r = _bed_plan(data, tmp_path, area)
    d = r.districts.set_index("code")
    assert set(d.index) == {"140105", "140702", "140703"}
    assert d.loc["140702", "rate_2025"] == 9.56 and d.loc["140702", "rate_quality"] == "estimate"
    assert d.loc["140702", "rate_2022"] == 8.15  # Taiyuan's 2022 rate, flagged estimate
    _, own = _bed_plan(data, tmp_path, {**area, "plans.beds.targets": {"140702": 8.0}})
    row = own.districts.set_index("code").loc["140702"]
    assert row["rate_2025"] == 8.0 and row["rate_quality"] == "scenario"
    residents = int(row["residents"])
    assert row["beds_2025_target"] == math.ceil(8.0 * residents / 1000 - 1e-9)


# --------------------------------------------------------------------------- staff


def test_staff_needed_by_hand():
    d = pd.DataFrame({"code": ["140105"], "name_zh": ["小店区"], "residents": [1357242]})
    r = staff_needed(d, physicians_per_1000=6, nurses_per_1000=6.5, nurses_per_physician=1.35,
                     pharmacists_per_1000=0.54, public_health_per_1000=0.83, gp_per_10000=3.5).iloc[0]
    assert r["physicians_needed"] == 8144  # 6 x 1,357.242 = 8,143.45
    assert r["nurses_by_rate"] == 8823  # 6.5 x 1,357.242 = 8,822.07
    assert r["nurses_by_ratio"] == 10995  # 1.35 x 8,144 = 10,994.4: the ratio binds
    assert r["nurses_needed"] == 10995
    assert r["pharmacists_needed"] == 733  # 0.54 x 1,357.242 = 732.91
    assert r["public_health_needed"] == 1127  # 0.83 x 1,357.242 = 1,126.51
    assert r["gps_needed"] == 476  # 3.5 x 135.7242 = 475.03


def test_staff_2022_estimate_by_hand():
    from healthopt.plans.workforce import staff_2022

    now = staff_2022(5304061)
    assert now["physicians"] == round(4.84 * 5304.061) == 25672  # 25,671.66
    assert now["nurses"] == round(6.27 * 5304.061) == 33256  # 33,256.46
    assert now["pharmacists"] == round(0.47 * 5304.061) == 2493
    assert now["public_health"] == round(0.63 * 5304.061) == 3342
    assert now["gps"] == round(2.7 * 530.4061) == 1432


# --------------------------------------------------------------------------- summary.csv


def test_summary_csv_total_adds_only_counts(tmp_path):
    from healthopt.outputs.tables import write_summary_csv

    districts = pd.DataFrame({"code": ["A", "B"], "name_zh": ["甲", "乙"], "name_en": ["A", "B"],
                              "residents": [3_000_000, 2_236_650], "beds_planned": [30_000, 20_000],
                              "beds_per_1000_planned": [10.0, 8.94], "beds_per_1000_target": [9.0, 9.5],
                              "coverage_share": [0.9, 0.8]})
    summary = {"beds": {"citywide": {"municipal_beds_unlocated": 500, "target_per_1000": 9.56}}}
    write_summary_csv(tmp_path / "s.csv", districts, summary)  # type: ignore[arg-type]
    text = (tmp_path / "s.csv").read_text(encoding="utf-8")
    assert "e+06" not in text
    t = pd.read_csv(tmp_path / "s.csv", dtype={"code": str}).set_index("code")
    assert t.loc["municipal_unlocated", "beds_planned"] == 500
    assert t.loc["total", "residents"] == 5_236_650 and t.loc["total", "beds_planned"] == 50_500
    assert t.loc["total", "beds_per_1000_planned"] == pytest.approx(50_500 / 5_236_650 * 1000, rel=1e-5)
    assert t.loc["total", "beds_per_1000_target"] == 9.56  # the city-wide target, not 9.0 + 9.5
    assert pd.isna(t.loc["total", "coverage_share"])


# --------------------------------------------------------------------------- one figure in every output


def test_one_citywide_bed_figure_in_every_output(baseline_run):
    """summary.json, summary.csv, results.gpkg, report.html, map.html and notebook 01 show the same figure."""
    import json

    import pyogrio

    from healthopt.outputs.maps import fmt_num

    folder = baseline_run.folder
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    k, city = summary["kpis"], summary["beds"]["citywide"]
    planned, beds, unlocated = k["beds_planned_per_1000"], k["beds_planned"], city["municipal_beds_unlocated"]
    assert k["citywide_target_per_1000"] == 9.56
    assert planned == pytest.approx(beds / k["pop_total"] * 1000, abs=1e-6)
    # GeoPackage: district beds plus the hospitals of unknown district are the city's beds.
    gpkg = pyogrio.read_dataframe(folder / "results.gpkg", layer="districts")
    assert int(gpkg["beds_planned"].sum()) + unlocated == beds
    # summary.csv: its own row for those hospitals and a total row equal to the headline.
    table = pd.read_csv(folder / "summary.csv", dtype={"code": str}).set_index("code")
    assert table.loc["municipal_unlocated", "beds_planned"] == unlocated
    assert table.loc["total", "beds_planned"] == beds
    assert table.loc["total", "beds_per_1000_planned"] == pytest.approx(planned, rel=1e-5)
    assert table.loc["total", "beds_per_1000_target"] == 9.56
    assert "e+0" not in (folder / "summary.csv").read_text(encoding="utf-8")
    # report: the headline card, the district table's total and the reconciliation sentence.
    report = (folder / "report.html").read_text(encoding="utf-8")
    head = report.split("<iframe")[0]
    assert f'<div class="value">{fmt_num(planned)}</div>' in head
    assert "city-wide target 9.56" in head
    assert head.count(f"<td class=\"\">{fmt_num(planned)}</td>") == 1  # the district table's total
    assert f"+{unlocated:,} beds" in head
    assert city["reconciliation"] in head.replace("&#39;", "'")
    for stale in ("10.05", "target 9.78"):
        assert stale not in head
    # map: each district's planned rate and target as in the GeoPackage.
    page = (folder / "map.html").read_text(encoding="utf-8")
    for r in gpkg.itertuples():
        assert f"{fmt_num(r.beds_per_1000_planned)} ({fmt_num(r.beds_per_1000_target)})" in page
    # notebook 01 shows kpis["beds_planned_per_1000"] against kpis["citywide_target_per_1000"].
    nb = (ROOT / "notebooks" / "01_quickstart.ipynb").read_text(encoding="utf-8")
    assert 'kpis[\\"beds_planned_per_1000\\"]' in nb and 'kpis[\\"citywide_target_per_1000\\"]' in nb
    assert 'summary[\\"beds\\"][\\"citywide\\"][\\"reconciliation\\"]' in nb


def test_report_has_bed_category_icu_and_staff_sections(baseline_run):
    import json

    folder = baseline_run.folder
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    report = (folder / "report.html").read_text(encoding="utf-8").split("<iframe")[0]
    for anchor in ('id="beds"', 'id="icu"', 'id="staff"'):
        assert anchor in report
    k = summary["kpis"]
    # Staff over the 10 districts: sum of ceil(rate x residents) per district (see test_staff_needed_by_hand).
    assert k["physicians_needed"] == sum(math.ceil(6 * n / 1000 - 1e-9) for n in RESIDENTS.values())
    assert k["gps_needed"] == sum(math.ceil(3.5 * n / 10000 - 1e-9) for n in RESIDENTS.values())
    for role in ("physicians", "nurses", "pharmacists", "public_health", "gps"):
        assert f"<td>{k[f'{role}_needed']:,}</td>" in report
    crews = summary["workforce"]["crews"]
    # 1 physician, 1 nurse, 1 driver per ambulance and shift (001 §四(二)1), 3 shifts.
    assert crews["per_shift"]["physicians"] == k["fleet_planned"]
    assert crews["total"]["physicians"] == 3 * k["fleet_planned"] == k["staff"]["physician"]
    assert "太原市人民医院: occupancy 70.39 %" in report or "太原市人民医院: occupancy 70.39%" in report
    assert "140171" in " ".join(summary["data_quality"])  # the zone's streets are reported, not dropped


# --------------------------------------------------------------------------- the 140171 streets


def test_zone_streets_are_reported_or_assigned(data, tmp_path):
    from healthopt.pipeline.run import study_area
    from healthopt.plans.base import Inputs
    from healthopt.plans.primary_care import required_centres, zone_note, zone_streets

    def inputs(sc):
        return Inputs("-", data, study_area(sc, data), None, tmp_path, None, None, None, None)

    sc = load_scenario(BASELINE)
    _, other = zone_streets(sc, inputs(sc))
    # The 6 streets coded 140171 (山西转型综合改革示范区) in the embedded divisions table.
    assert sorted(other["street_code"]) == [f"14017140{i}" for i in range(1, 7)]
    note = zone_note(sc, other)
    assert note is not None and "excluded from the CHC norm" in note and "唐槐园区街道" in note
    base = required_centres(sc, inputs(sc)).set_index("code")
    moved = sc.with_overrides({"plans.primary_care.zone_streets_district": "140105"})
    after = required_centres(moved, inputs(moved)).set_index("code")
    assert after.loc["140105", "n_streets"] == base.loc["140105", "n_streets"] + 6
    assert after.loc["140105", "required_chc"] >= base.loc["140105", "required_chc"] + 6 - 1
    assert (after.drop("140105")["required_chc"] == base.drop("140105")["required_chc"]).all()
    assert "counted in district 140105" in (zone_note(moved, other) or "")


# --------------------------------------------------------------------------- efficiency figures from a hospitals layer


def test_hospitals_layer_gives_occupancy_and_stay(data, tmp_path):
    from healthopt.data.overlay import with_hospitals
    from healthopt.errors import InputError

    layer = tmp_path / "h.csv"
    layer.write_text("id,name,lon,lat,occupancy,avg_stay_days\n"
                     "A,太原市中心医院,112.5543,37.8787,0.92,8.4\n"
                     "B,太原市人民医院,112.5543,37.8500,,\n", encoding="utf-8")
    given = with_hospitals(data, layer, "wgs84")
    h = given.hospitals.set_index("name_zh")
    assert (h.loc["太原市中心医院", "occupancy_2022"], h.loc["太原市中心医院", "avg_stay_days_2022"]) == (0.92, 8.4)
    assert pd.isna(h.loc["太原市人民医院", "occupancy_2022"])  # blank: the city average stands in
    _, r = _bed_plan(given, tmp_path)
    plan = r.hospitals.set_index("name_zh")
    assert plan.loc["太原市中心医院", "beds_added"] == 400  # 92 % >= 75 %, 8.4 <= 9 days: annex 2 growth
    assert plan.loc["太原市中心医院", "efficiency_quality"] == "layer"
    assert plan.loc["太原市人民医院", "beds_added"] == 0
    assert plan.loc["太原市人民医院", "efficiency_quality"] == "estimate"
    bad = tmp_path / "bad.csv"
    bad.write_text("id,name,lon,lat,occupancy\nA,太原市中心医院,112.5543,37.8787,82\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"bad\.csv.*occupancy.*82.*not a number from 0 to 1\.5"):
        with_hospitals(data, bad, "wgs84")

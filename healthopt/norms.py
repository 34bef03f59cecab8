"""Norm arithmetic: what the planning norms require of each district.

Pure functions over district tables. The figures themselves (residents per ambulance,
negative-pressure share, centres per street, ...) are parameters; where they have a default
it is read from the norms table (:mod:`healthopt.scenario.defaults`,
``healthopt/geodata/taiyuan/tables/norms.csv``); nothing here hard-codes them.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from healthopt.scenario.defaults import norm_int


def grow_population(population: pd.Series, base_year: int, year: int, growth_per_year: float) -> pd.Series:
    """Project census residents to the planning year with compound growth, rounded to persons.

    Parameters
    ----------
    population : Series
        Residents in ``base_year``.
    base_year, year : int
        Census year and planning year.
    growth_per_year : float
        Annual growth rate (0.01 = 1 %).

    Returns
    -------
    Series
        Integer residents in ``year``.
    """
    factor = (1.0 + growth_per_year) ** (year - base_year)
    return (population.astype(float) * factor).round().astype("int64")


def ambulance_norms(
    districts: pd.DataFrame,
    residents_per_vehicle: dict[str, float],
    negative_pressure_share: float,
    *,
    per_district_negative_pressure: bool = False,
    population_col: str = "population",
) -> pd.DataFrame:
    """Minimum ambulances and negative-pressure ambulances per district.

    Parameters
    ----------
    districts : DataFrame
        Must hold ``code``, ``norm_class`` (key of ``residents_per_vehicle``) and population.
    residents_per_vehicle : dict
        Residents per ambulance by norm class, e.g. ``{"urban": 30000, "county": 10000}``.
    negative_pressure_share : float
        Minimum negative-pressure share of the fleet.
    per_district_negative_pressure : bool
        Apply the share in every district (else only to the total).
    population_col : str
        Column with residents.

    Returns
    -------
    DataFrame
        One row per district: ``min_vehicles = ceil(residents / residents_per_vehicle)`` and
        ``min_negative_pressure`` (``ceil(share × min_vehicles)`` when applied per district,
        else 0; the fleet-wide minimum is ``fleet_negative_pressure_minimum``).
    """
    per = districts["norm_class"].map(residents_per_vehicle)
    if per.isna().any():
        bad = districts.loc[per.isna(), "norm_class"].iloc[0]
        raise KeyError(f"no residents-per-ambulance norm for class {bad!r}")
    out = districts[["code", "name_zh", "norm_class"]].copy()
    out["residents"] = districts[population_col].astype("int64")
    out["residents_per_vehicle"] = per.astype(float)
    out["min_vehicles"] = np.ceil(out["residents"] / out["residents_per_vehicle"]).astype("int64")
    share = negative_pressure_share if per_district_negative_pressure else 0.0
    out["min_negative_pressure"] = np.ceil(out["min_vehicles"] * share - 1e-9).astype("int64")
    return out.reset_index(drop=True)


def fleet_negative_pressure_minimum(vehicles: int, share: float) -> int:
    """Smallest number of negative-pressure vehicles that makes ``share`` of ``vehicles``."""
    return math.ceil(vehicles * share - 1e-9)


def ambulance_gap(norms: pd.DataFrame, baseline_vehicles: int, baseline_negative_pressure: int,
                  negative_pressure_share: float) -> dict[str, int]:
    """Compare the fleet norm with the baseline fleet (city-wide).

    Returns
    -------
    dict
        ``norm_vehicles``, ``norm_negative_pressure``, ``baseline_vehicles``,
        ``baseline_negative_pressure``, ``gap_vehicles``, ``gap_negative_pressure``
        (positive = vehicles to add).
    """
    total = int(norms["min_vehicles"].sum())
    np_min = max(fleet_negative_pressure_minimum(total, negative_pressure_share),
                 int(norms["min_negative_pressure"].sum()))  # fmt: skip
    return {
        "norm_vehicles": total,
        "norm_negative_pressure": np_min,
        "baseline_vehicles": int(baseline_vehicles),
        "baseline_negative_pressure": int(baseline_negative_pressure),
        "gap_vehicles": total - int(baseline_vehicles),
        "gap_negative_pressure": np_min - int(baseline_negative_pressure),
    }


def street_population(districts: pd.DataFrame, divisions: pd.DataFrame,
                      population_col: str = "population") -> pd.DataFrame:
    """Estimate residents per street / town / township from committee counts.

    No street-level census figure is published, so each district's residents are shared
    among its divisions in proportion to their residents' plus villagers' committees
    (each committee serves a comparable number of households). Flagged ``estimate``.
    """
    div = divisions.copy()
    div["committees"] = (div["n_residents_committees"] + div["n_villagers_committees"]
                         + div.get("n_other", 0)).clip(lower=1)  # fmt: skip
    div = div[div["county_code"].isin(districts["code"])].copy()  # a frame of its own, not a view to write through
    pop = districts.set_index("code")[population_col]
    share = div["committees"] / div.groupby("county_code")["committees"].transform("sum")
    div["residents_estimate"] = (share * div["county_code"].map(pop)).round().astype("int64")
    div["residents_quality"] = "estimate"
    return div


def health_centre_norms(
    districts: pd.DataFrame,
    divisions: pd.DataFrame,
    *,
    chc_per_street: int | None = None,
    extra_threshold: float | None = None,
    extra_per_residents: float | None = None,
    thc_per_township: int | None = None,
    population_col: str = "population",
) -> pd.DataFrame:
    """Return the required community and township health centres per district.

    One community health service centre (CHC) per street (街道), plus one more for every
    further ``extra_per_residents`` residents above ``extra_threshold`` in a street (the
    norm allows 50,000-100,000; the default takes the lenient end), and one township
    health centre (THC) per town (镇) or township (乡). Street residents are estimates
    (:func:`street_population`). An argument left ``None`` takes its norm from the table
    (``primary_care.chc_per_street``, ``.chc_extra_threshold``,
    ``.chc_extra_per_residents_max``, ``.thc_per_township``).

    Returns
    -------
    DataFrame
        ``code, n_streets, n_towns_townships, required_chc, extra_chc, required_thc``.
    """
    if chc_per_street is None:
        chc_per_street = norm_int("primary_care.chc_per_street")
    if extra_threshold is None:
        extra_threshold = norm_int("primary_care.chc_extra_threshold")
    if extra_per_residents is None:
        extra_per_residents = norm_int("primary_care.chc_extra_per_residents_max")
    if thc_per_township is None:
        thc_per_township = norm_int("primary_care.thc_per_township")
    div = street_population(districts, divisions, population_col)
    is_street = div["type"].eq("街道")
    above = (div["residents_estimate"] - extra_threshold).clip(lower=0)
    div["extra_chc"] = np.where(is_street, np.ceil(above / extra_per_residents), 0).astype("int64")
    div["chc"] = np.where(is_street, chc_per_street, 0) + div["extra_chc"]
    div["thc"] = np.where(div["type"].isin(["镇", "乡"]), thc_per_township, 0)
    grouped = div.groupby("county_code").agg(
        n_streets=("type", lambda t: int((t == "街道").sum())),
        n_towns_townships=("type", lambda t: int(t.isin(["镇", "乡"]).sum())),
        extra_chc=("extra_chc", "sum"),
        required_chc=("chc", "sum"),
        required_thc=("thc", "sum"),
    )
    out = districts[["code", "name_zh"]].merge(grouped, left_on="code", right_index=True, how="left")
    cols = ["n_streets", "n_towns_townships", "extra_chc", "required_chc", "required_thc"]
    out[cols] = out[cols].fillna(0).astype("int64")
    return out.reset_index(drop=True)


def bed_targets(districts: pd.DataFrame, beds_district: pd.DataFrame, *,
                population_col: str = "population", default_rate_2025: float | None = None,
                default_rate_2022: float | None = None) -> pd.DataFrame:
    """Return current (2022 rate) and 2025 target beds per district from the per-1,000 guideline.

    Beds are ``rate × residents / 1000``; the 2022 bed count is estimated from the 2022
    rate and the planning population (no district bed counts are published in the seeds).

    Districts without a guideline row (Jinzhong's units: annex 1 covers Taiyuan only) get
    ``default_rate_2025`` (the city-wide target) and ``default_rate_2022`` with strategy
    ``neutral`` and ``rate_quality`` ``estimate``; without defaults they are left out.
    Guideline rows have ``rate_quality`` ``official``.
    """
    table = beds_district.rename(columns={"beds_per_1000_2022": "rate_2022",
                                          "beds_per_1000_2025": "rate_2025"})  # fmt: skip
    out = districts[["code", "name_zh", population_col]].merge(
        table[["code", "rate_2022", "rate_2025", "strategy"]], on="code", how="left"
    )
    has_row = out["code"].isin(table["code"])
    out["rate_quality"] = np.where(has_row, "official", "estimate")
    if default_rate_2025 is None or default_rate_2022 is None:
        out = out[has_row].copy()
    else:
        out["rate_2025"] = out["rate_2025"].fillna(default_rate_2025)
        out["rate_2022"] = out["rate_2022"].fillna(default_rate_2022)
        # a rate given by the scenario for a unit without a guideline row is the scenario's own
        out.loc[~has_row & out["rate_2025"].ne(default_rate_2025), "rate_quality"] = "scenario"
    out["strategy"] = out["strategy"].fillna("neutral")
    out["beds_2022_estimate"] = (out["rate_2022"] * out[population_col] / 1000).round().astype("int64")
    out["beds_2025_target"] = np.ceil(out["rate_2025"] * out[population_col] / 1000 - 1e-9).astype("int64")
    return out.rename(columns={population_col: "residents"}).reset_index(drop=True)


def beds_for_rate(rate_per_1000: float, residents: float) -> int:
    """Return the beds (or staff) a per-1,000 norm asks of ``residents``, rounded up.

    Examples
    --------
    >>> beds_for_rate(0.78, 1_000_000), beds_for_rate(9.56, 5_000)
    (780, 48)
    """
    return math.ceil(rate_per_1000 * residents / 1000 - 1e-9)


def unassigned_streets(divisions: pd.DataFrame, *, known: set[str], area: set[str]) -> pd.DataFrame:
    """Return the streets / towns of the study area's cities whose county code is no known district.

    Taiyuan's 6 streets coded 140171 (山西转型综合改革示范区, a functional zone with no census
    population and no boundary of its own) are the case in the embedded data.

    Parameters
    ----------
    divisions : DataFrame
        ``street_code, street_name, county_code, county_name, type``.
    known : set of str
        Every district code of the dataset.
    area : set of str
        District codes of the study area (their cities' streets are looked at).
    """
    cities = {str(c)[:4] for c in area}
    in_city = divisions["street_code"].astype(str).str[:4].isin(cities)
    return divisions[in_city & ~divisions["county_code"].isin(known)].reset_index(drop=True)

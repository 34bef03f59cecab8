"""The plan sections of a scenario: ambulances, primary care, beds, green channel.

Each figure's default is a row of the norms table (:mod:`healthopt.scenario.defaults`);
the seed document and section are named in each class docstring.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, Strict, model_validator

from healthopt.scenario import defaults
from healthopt.scenario.defaults import norm_float_default as norm_float
from healthopt.scenario.defaults import norm_int_default as norm_int
from healthopt.scenario.fields import (
    BedStrategy,
    Bool,
    Count,
    DistrictCode,
    Minutes,
    Money,
    Section,
    Share,
    merge_over,
)
from healthopt.scenario.messages import fail, show, suggest

__all__ = [
    "AmbulancePlan",
    "BedPlan",
    "CountRange",
    "GreenChannel",
    "Plans",
    "PrimaryCarePlan",
    "WorkforcePlan",
]


class ResidentsPerAmbulance(Section):
    """At least one ambulance per this many residents (001 §四(三)1)."""

    urban: Annotated[int, Strict(), Field(ge=1000, le=1_000_000)] = Field(
        default_factory=norm_int("ambulance.residents_per_vehicle.urban")
    )
    county: Annotated[int, Strict(), Field(ge=1000, le=1_000_000)] = Field(
        default_factory=norm_int("ambulance.residents_per_vehicle.county")
    )


class AmbulanceBaseline(Section):
    """Fleet at the end of 2022 (001 §一(一)1)."""

    vehicles: Count = Field(default_factory=norm_int("ambulance.baseline_2022.vehicles"))
    negative_pressure: Count = Field(default_factory=norm_int("ambulance.baseline_2022.negative_pressure"))
    stations: Count = Field(default_factory=norm_int("ambulance.baseline_2022.stations"))

    @model_validator(mode="after")
    def _np_within_fleet(self) -> AmbulanceBaseline:
        if self.negative_pressure > self.vehicles:
            raise fail(
                f"{self.negative_pressure} negative-pressure ambulances exceed the fleet of "
                f"{self.vehicles}",
                "negative_pressure",
            )
        return self


class Backup(Section):
    """Double-standard model: share ``alpha`` of demand covered twice within ``r1``."""

    r1_minutes: Minutes = Field(default_factory=norm_float("ambulance.dsm.r1_minutes"))
    alpha: Share = Field(default_factory=norm_float("ambulance.dsm.alpha"))


def _busy_fraction(value: Any) -> Any:
    """Accept ``workload`` or a number strictly between 0 and 1 (one message either way)."""
    if value == "workload":
        return value
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 < float(value) < 1.0:
        raise fail(f"must be workload (busy fractions from calls and service times) or a constant share "
                   f"0 < q < 1, got {show(value)}")
    return float(value)


class AmbulanceEquity(Section):
    """Equity between districts for the expected covering model (mexclp).

    ``min_share_reached``: every district has at least this expected share of its calls
    reached within the standard (null = no floor); ``maximise_worst_district``: first raise
    the worst district's expected share as far as it goes, then the usual objective.
    """

    min_share_reached: Share | None = None
    maximise_worst_district: Bool = False


class Costs(Section):
    """Optional costs and budget in 万元 (10,000 CNY); ``null`` = not costed / no budget."""

    station: Money | None = None
    vehicle: Money | None = None
    budget: Money | None = None

    @model_validator(mode="after")
    def _budget_needs_costs(self) -> Costs:
        if self.budget is not None and (self.station is None or self.vehicle is None):
            raise fail(
                "a budget needs the costs it pays for: set costs.station and costs.vehicle "
                "(万元)",
                "budget",
            )
        return self


Crew = Annotated[int, Strict(), Field(ge=0, le=10)]


class Staffing(Section):
    """Crew per ambulance and shift (001 §四(二)): 1 physician, 1 nurse, 1 driver."""

    physician: Crew = Field(default_factory=norm_int("ambulance.staff.physician_per_vehicle"))
    nurse: Crew = Field(default_factory=norm_int("ambulance.staff.nurse_per_vehicle"))
    driver: Crew = Field(default_factory=norm_int("ambulance.staff.driver_per_vehicle"))


class PhaseYear(Section):
    """One plan year of a phased plan: what it may add, and an optional milestone."""

    year: Annotated[int, Strict(), Field(ge=2020, le=2050)]
    vehicles_added: Count | None = None  # ambulances bought that year (null: no yearly limit)
    new_stations: Count | None = None  # stations opened that year (null: no yearly limit)
    fleet_norm_share: Share | None = None  # milestone: share of each district's final fleet norm


class Phasing(Section):
    """A plan phased over years (the last is the scenario's ``year``; 001 covers 2023–2025)."""

    years: Annotated[list[PhaseYear], Field(min_length=1, max_length=10)]

    @model_validator(mode="after")
    def _increasing(self) -> Phasing:
        for k in range(1, len(self.years)):
            if self.years[k].year <= self.years[k - 1].year:
                raise fail(f"years must increase: {self.years[k].year} follows {self.years[k - 1].year}",
                           "years", k, "year")  # fmt: skip
        return self


CallRate = Annotated[float, Strict(), Field(gt=0.0, le=1000.0)]


class AmbulanceCalls(Section):
    """Emergency calls and their handling, for the call simulation (healthopt/queueing/calls.py).

    Call rates and the service time are estimates (norms table: no Taiyuan 120 statistic is
    published); the dispatch delay's 95th percentile is the national 3-minute target.
    """

    per_1000_urban: CallRate = Field(default_factory=norm_float("ambulance.calls_per_1000.urban"))
    per_1000_county: CallRate = Field(default_factory=norm_float("ambulance.calls_per_1000.county"))
    service_minutes: Minutes = Field(default_factory=norm_float("ambulance.service_minutes.mean"))
    service_distribution: Literal["exponential", "lognormal"] = "exponential"
    service_cv: Annotated[float, Strict(), Field(gt=0.0, le=5.0)] = Field(
        default_factory=norm_float("ambulance.service_minutes.cv"))
    dispatch_delay_minutes: Annotated[float, Strict(), Field(ge=0.0, le=60.0)] = Field(
        default_factory=norm_float("ambulance.dispatch_delay_minutes.mean"))
    dispatch_delay_p95_minutes: Annotated[float, Strict(), Field(gt=0.0, le=60.0)] = Field(
        default_factory=norm_float("ambulance.dispatch_delay_minutes.p95"))
    hourly_profile: list[Annotated[float, Strict(), Field(ge=0.0)]] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> AmbulanceCalls:
        if self.dispatch_delay_minutes > 0:
            from healthopt.queueing.calls import DispatchDelay

            try:
                DispatchDelay(mean_minutes=self.dispatch_delay_minutes, p95_minutes=self.dispatch_delay_p95_minutes)
            except ValueError as exc:
                raise fail(str(exc), "dispatch_delay_p95_minutes") from None
        profile = self.hourly_profile
        if profile is not None and (len(profile) != 24 or sum(profile) <= 0):
            raise fail("an hourly profile needs 24 non-negative weights, not all zero", "hourly_profile")
        return self


class AmbulanceSimulation(Section):
    """Simulation of a year of calls on every plan (technical settings, not norms)."""

    enabled: Bool = True
    replications: Annotated[int, Strict(), Field(ge=2, le=200)] = 10
    seed: Annotated[int, Strict(), Field(ge=0, le=2**32 - 1)] = 0


class AmbulancePlan(Section):
    """Ambulance stations and fleet (001 §四(三)1, §四(二), §一(一)1, §三(一)5)."""

    enabled: Bool = True
    per_residents: ResidentsPerAmbulance = Field(default_factory=ResidentsPerAmbulance)
    negative_pressure_share: Share = Field(default_factory=norm_float("ambulance.negative_pressure_share_min"))
    negative_pressure_per_district: Bool = False
    baseline: AmbulanceBaseline = Field(default_factory=AmbulanceBaseline)
    model: Literal["mclp", "mexclp", "dsm"] = "mexclp"
    # "workload": busy fractions from calls × service time ÷ ambulances, refined by the
    # hypercube model; a number 0 < q < 1 is a constant busy fraction (Daskin's MEXCLP).
    busy_fraction: Annotated[Literal["workload"] | float, BeforeValidator(_busy_fraction)] = "workload"
    hypercube_rounds: Annotated[int, Strict(), Field(ge=0, le=10)] = 3
    equity: AmbulanceEquity = Field(default_factory=AmbulanceEquity)
    backup: Backup = Field(default_factory=Backup)
    max_vehicles: Count | None = None
    max_new_stations: Count | None = Field(default_factory=norm_int("ambulance.max_new_stations"))
    max_vehicles_per_station: Annotated[int, Strict(), Field(ge=1, le=100)] = Field(
        default_factory=norm_int("ambulance.max_vehicles_per_station")
    )
    allow_closing: Bool = False
    costs: Costs = Field(default_factory=Costs)
    staff_per_vehicle: Staffing = Field(default_factory=Staffing)
    shifts: Annotated[int, Strict(), Field(ge=1, le=4)] = Field(
        default_factory=norm_int("ambulance.staff.shifts_per_day")
    )
    county_centre_required: Bool = Field(default_factory=lambda: defaults.norm_int("ambulance.county_centres_min") > 0)
    calls: AmbulanceCalls = Field(default_factory=AmbulanceCalls)
    simulation: AmbulanceSimulation = Field(default_factory=AmbulanceSimulation)
    phasing: Phasing | None = None  # year-by-year budgets (plans.ambulance_phasing); null = one plan year
    # The existing network (data.stations): greenfield re-plans every fleet (the layer's
    # stations stay open), expand keeps the layer's ambulances as floors and adds to them,
    # evaluate reports the layer's layout as it is. relocate says how far expand may move
    # existing ambulances: false (each stays at its station), within_district, free.
    mode: Literal["greenfield", "expand", "evaluate"] = "greenfield"
    relocate: Literal[False, "within_district", "free"] = False


class CountRange(Section):
    """An inclusive whole-number range ``{min, max}``."""

    min: Count
    max: Count

    @classmethod
    def of(cls, pair: tuple[int, int]) -> CountRange:
        """Return the range ``{min: pair[0], max: pair[1]}``."""
        return cls(min=pair[0], max=pair[1])

    @model_validator(mode="after")
    def _ordered(self) -> CountRange:
        if self.min > self.max:
            raise fail(f"min ({self.min}) is greater than max ({self.max})", "min")
        return self


Residents = Annotated[int, Strict(), Field(ge=1000, le=10_000_000)]


class PrimaryCarePlan(Section):
    """Community and township health centres (001 §三(三); 003 §二(一)3)."""

    enabled: Bool = True
    chc_per_street: Annotated[int, Strict(), Field(ge=0, le=10)] = Field(
        default_factory=norm_int("primary_care.chc_per_street")
    )
    extra_chc_threshold: Residents = Field(default_factory=norm_int("primary_care.chc_extra_threshold"))
    # The norm allows one more centre per 50,000-100,000: the default takes the lenient end.
    extra_chc_per_residents: Residents = Field(
        default_factory=norm_int("primary_care.chc_extra_per_residents_max")
    )
    township_per_township: Annotated[int, Strict(), Field(ge=0, le=10)] = Field(
        default_factory=norm_int("primary_care.thc_per_township")
    )
    max_travel_minutes: Minutes = Field(default_factory=norm_float("primary_care.max_travel_minutes"))
    subcentres_per_county: CountRange = Field(
        default_factory=lambda: CountRange.of(defaults.norm_int_range("primary_care.subcentres_per_county"))
    )
    chs_station_residents: CountRange = Field(
        default_factory=lambda: CountRange.of(defaults.norm_int_range("primary_care.chs_station_residents"))
    )
    #: District that takes the streets coded to no district of the dataset (Taiyuan's 6 streets of
    #: 140171 山西转型综合改革示范区); ``None``: they are reported as excluded from the CHC norm.
    zone_streets_district: DistrictCode | None = None


ShareRange = tuple[Share, Share]


class IcuShare(Section):
    """ICU beds as a share of hospital beds, ``[low, high]`` (001 §三(二)3(5)).

    ``specialist_hospitals``: apply the shares to psychiatric and maternal-child hospitals too
    (the norm names secondary and tertiary hospitals; by default those two kinds get none).
    """

    secondary: ShareRange = Field(default_factory=lambda: defaults.norm_float_range("beds.icu_share.secondary"))
    tertiary: ShareRange = Field(default_factory=lambda: defaults.norm_float_range("beds.icu_share.tertiary"))
    specialist_hospitals: Bool = False

    @model_validator(mode="after")
    def _ordered(self) -> IcuShare:
        for name in ("secondary", "tertiary"):
            low, high = getattr(self, name)
            if low > high:
                raise fail(f"low share {low} is above high share {high}", name)
        return self


class HospitalEfficiency(Section):
    """One hospital's bed occupancy and average stay (replaces the city's 2022 averages, 001 §一(一)3)."""

    occupancy: Share
    avg_stay_days: Annotated[float, Strict(), Field(gt=0.0, le=365.0)]


class BedEfficiency(Section):
    """No new beds at a public general hospital whose occupancy is below / average stay above these (001 §四(一)2)."""

    min_occupancy: Share = Field(default_factory=norm_float("beds.efficiency.occupancy_min"))
    max_avg_stay_days: Annotated[float, Strict(), Field(gt=0.0, le=365.0)] = Field(
        default_factory=norm_float("beds.efficiency.avg_stay_max_days")
    )
    #: Hospital name -> its own occupancy and average stay (others: hospitals table, else city 2022 averages).
    hospitals: dict[Annotated[str, Strict(), Field(min_length=1, max_length=200)], HospitalEfficiency] = Field(
        default_factory=dict)


def _bed_targets(value: Any) -> Any:
    """Expand a named target set; merge a mapping over ``plan_2025``."""
    if isinstance(value, str):
        sets = defaults.BED_TARGETS_PER_1000
        if value not in sets:
            names = ", ".join(sets)
            raise fail(
                f"unknown target set {show(value)}: use {names} or a mapping "
                f"district code: beds per 1,000{suggest(value, list(sets))}"
            )
        return dict(sets[value])
    return merge_over(lambda: defaults.BED_TARGETS_PER_1000["plan_2025"])(value)


def _bed_strategy(value: Any) -> Any:
    """Expand ``default`` (001 annex 1); merge a mapping over it."""
    if isinstance(value, str):
        if value != "default":
            raise fail(
                f"unknown strategy {show(value)}: use default or a mapping district code: "
                "strengthen | shed | priority | neutral"
            )
        return dict(defaults.BED_STRATEGY)
    return merge_over(lambda: defaults.BED_STRATEGY)(value)


class BedPlan(Section):
    """Hospital beds by district (001 §二(三), annex 1, annex 2, §三(二)3, §四(一)2)."""

    enabled: Bool = True
    targets: Annotated[
        dict[DistrictCode, Annotated[float, Strict(), Field(gt=0.0, le=50.0)]],
        BeforeValidator(_bed_targets),
    ] = Field(default_factory=lambda: dict(defaults.BED_TARGETS_PER_1000["plan_2025"]))
    citywide_per_1000: Annotated[float, Strict(), Field(gt=0.0, le=50.0)] = Field(
        default_factory=norm_float("beds.citywide_per_1000_2025")
    )
    icu_share: IcuShare = Field(default_factory=IcuShare)
    infectious_min: Annotated[
        dict[DistrictCode, Count], BeforeValidator(merge_over(lambda: defaults.INFECTIOUS_BEDS_MIN))
    ] = Field(default_factory=lambda: dict(defaults.INFECTIOUS_BEDS_MIN))
    strategy: Annotated[dict[DistrictCode, BedStrategy], BeforeValidator(_bed_strategy)] = (
        Field(default_factory=lambda: dict(defaults.BED_STRATEGY))  # type: ignore[arg-type]
    )
    efficiency: BedEfficiency = Field(default_factory=BedEfficiency)
    # Bed categories with a city-wide 2025 target (001 §二(三) table; §三(二)3(3) paediatric).
    psychiatric_per_1000: Annotated[float, Strict(), Field(ge=0.0, le=50.0)] = Field(
        default_factory=norm_float("beds.psychiatric_per_1000_2025"))
    tcm_public_per_1000: Annotated[float, Strict(), Field(ge=0.0, le=50.0)] = Field(
        default_factory=norm_float("beds.tcm_public_per_1000_2025"))
    paediatric_per_1000_children: Annotated[float, Strict(), Field(ge=0.0, le=50.0)] = Field(
        default_factory=norm_float("beds.paediatric_per_1000_children_2025"))
    #: Share of residents aged 0-14 (Taiyuan 2020 census: 15.55 %), for the paediatric norm.
    children_share: Share = Field(default_factory=norm_float("population.children_0_14_share_2020"))


class WorkforcePlan(Section):
    """Health workers needed by the 2025 norms (001 §二(三) table, §四(二)); ambulance crews from the fleet."""

    enabled: Bool = True
    physicians_per_1000: Annotated[float, Strict(), Field(ge=0.0, le=100.0)] = Field(
        default_factory=norm_float("staff.physicians_per_1000_2025"))
    nurses_per_1000: Annotated[float, Strict(), Field(ge=0.0, le=100.0)] = Field(
        default_factory=norm_float("staff.nurses_per_1000_2025"))
    nurses_per_physician: Annotated[float, Strict(), Field(ge=0.0, le=20.0)] = Field(
        default_factory=norm_float("staff.doctor_nurse_ratio_2025"))
    pharmacists_per_1000: Annotated[float, Strict(), Field(ge=0.0, le=100.0)] = Field(
        default_factory=norm_float("staff.pharmacists_per_1000_2025"))
    public_health_per_1000: Annotated[float, Strict(), Field(ge=0.0, le=100.0)] = Field(
        default_factory=norm_float("staff.public_health_per_1000_2025"))
    gp_per_10000: Annotated[float, Strict(), Field(ge=0.0, le=100.0)] = Field(
        default_factory=norm_float("staff.gp_per_10000_2025"))


HospitalName = Annotated[str, Strict(), Field(min_length=1, max_length=200)]


class GreenChannel(Section):
    """Taiyuan–Jinzhong critical-care referral green channel (000 §(五))."""

    enabled: Bool = False
    senders: list[HospitalName] = Field(default_factory=lambda: list(defaults.GREEN_CHANNEL_SENDERS))
    receivers: list[HospitalName] = Field(
        default_factory=lambda: list(defaults.GREEN_CHANNEL_RECEIVERS)
    )
    reserved_icu_beds: Count = 0

    @model_validator(mode="after")
    def _hospitals(self) -> GreenChannel:
        if self.enabled and not self.senders:
            raise fail("an enabled green channel needs at least one sending hospital", "senders")
        if self.enabled and not self.receivers:
            raise fail(
                "an enabled green channel needs at least one receiving hospital", "receivers"
            )
        both = sorted(set(self.senders) & set(self.receivers))
        if both:
            raise fail(f"{both[0]} is both a sender and a receiver", "receivers")
        return self


class Plans(Section):
    """The plans to optimise."""

    ambulances: AmbulancePlan = Field(default_factory=AmbulancePlan)
    primary_care: PrimaryCarePlan = Field(default_factory=PrimaryCarePlan)
    beds: BedPlan = Field(default_factory=BedPlan)
    green_channel: GreenChannel = Field(default_factory=GreenChannel)
    workforce: WorkforcePlan = Field(default_factory=WorkforcePlan)

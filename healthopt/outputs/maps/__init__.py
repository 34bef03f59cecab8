"""The scenario map: one self-explaining Folium map of a run for the health commission.

Layers (names as shown in the layer control, see :data:`LAYERS`), one module each:

* :mod:`~healthopt.outputs.maps.districts` -- two district choropleths, *coverage within the
  standard* (shown) and *ambulance norm gap* (hidden), mutually exclusive (ticking one
  unticks the other), and bilingual district labels;
* :mod:`~healthopt.outputs.maps.catchments` -- coverage areas (isochrones at each station's own
  response standard, urban or county; off-network, estimated ones are hatched with a dashed outline);
* :mod:`~healthopt.outputs.maps.demand` -- uncovered population (demand points outside every
  catchment or beyond capacity);
* :mod:`~healthopt.outputs.maps.stations` -- ambulance stations (size = vehicles, colour =
  negative-pressure share, circle = existing, square = new, dashed outline = proxy location);
* :mod:`~healthopt.outputs.maps.centres` and :mod:`~healthopt.outputs.maps.beds` -- health
  centres (C / T / S badges) and hospital bed changes (hidden by default);
* :mod:`~healthopt.outputs.maps.green_channel` -- critical-care referral routes.

Every layer has its own categorical legend (:mod:`healthopt.outputs.legend`) that is shown
only while the layer is on.  A title box (:mod:`~healthopt.outputs.maps.title`) names the
scenario and the solver status (a plan that is not proven optimal is flagged prominently).
:mod:`~healthopt.outputs.maps.build` assembles the map; the page's own templates (stylesheet,
title, legend toggle, popups) are constants in :mod:`~healthopt.outputs.maps.elements`.
The background is chosen by ``outputs.basemap``: by default a vector base map drawn from the
embedded OSM extract (:mod:`healthopt.outputs.vector_basemap`: roads, rivers, railways, street
names, seats; no tiles), or online tiles / boundaries only (:mod:`healthopt.outputs.basemap`).
Offline maps have every script and stylesheet inlined (:mod:`healthopt.outputs.offline`).
Legends list only what is drawn, take the scenario's own parameters, fold with a click, and
the study area is fitted beside them; district labels are moved off station symbols.

Safety
------
No text from a run (scenario description, station or hospital names from a user layer, a
sweep value, another run's ``summary.json``) is ever evaluated as a template: data enters
templates only as variables, and pages render under
:func:`healthopt.outputs._html.literal_output`, which stops branca from parsing rendered
output a second time (the cause of the former ``{{7*7}}`` -> ``49`` injection).

Determinism
-----------
Folium/branca name every element ``<type>_<32 random hex digits>``, so two renders of the
same map would differ.  Maps are built and rendered inside
:func:`~healthopt.outputs._html.deterministic_ids`, which makes ids a counter (``h00001``,
...) for the length of the block.  Everything else (GeoJSON, styles, popups) is produced from
the data in a fixed order, so the same input gives byte-identical HTML.
"""

from __future__ import annotations

from healthopt.outputs._html import deterministic_ids
from healthopt.outputs.maps._format import (
    district_label,
    esc,
    fmt_gap,
    fmt_int,
    fmt_num,
    fmt_pct,
    fmt_signed,
    is_missing,
)
from healthopt.outputs.maps._geometry import study_bounds, valid_points
from healthopt.outputs.maps.beds import bed_layer, bed_legend
from healthopt.outputs.maps.build import (
    MapLayer,
    add_legend_toggle,
    build_map,
    missing_layers,
    new_map,
    result_layers,
    write_map,
)
from healthopt.outputs.maps.catchments import catchment_layer, catchment_legend
from healthopt.outputs.maps.centres import centre_layer, centre_legend
from healthopt.outputs.maps.demand import aggregate_demand, demand_radius, uncovered_layer, uncovered_legend
from healthopt.outputs.maps.districts import coverage_legend, gap_legend
from healthopt.outputs.maps.elements import bind_popup
from healthopt.outputs.maps.green_channel import green_channel_layer, green_channel_legend
from healthopt.outputs.maps.names import (
    ESTIMATE_NOTE,
    ESTIMATED_TT_LABEL,
    HATCH_ID,
    LAYER_BEDS,
    LAYER_CATCHMENTS,
    LAYER_CENTRES,
    LAYER_CITIES,
    LAYER_COVERAGE_SHARE,
    LAYER_DISTRICTS,
    LAYER_GREEN,
    LAYER_LABELS,
    LAYER_NORM_GAP,
    LAYER_STATIONS,
    LAYER_UNCOVERED,
    LAYERS,
    PROXY_LABEL,
)
from healthopt.outputs.maps.render import render_html, render_map
from healthopt.outputs.maps.stations import station_layer, station_legend, station_size
from healthopt.outputs.maps.title import add_title, status_line, title_html

__all__ = [
    "ESTIMATED_TT_LABEL", "ESTIMATE_NOTE", "HATCH_ID", "LAYERS", "LAYER_BEDS", "LAYER_CATCHMENTS",
    "LAYER_CENTRES", "LAYER_CITIES", "LAYER_COVERAGE_SHARE", "LAYER_DISTRICTS", "LAYER_GREEN",
    "LAYER_LABELS", "LAYER_NORM_GAP", "LAYER_STATIONS", "LAYER_UNCOVERED", "PROXY_LABEL",
    "MapLayer", "add_legend_toggle", "add_title", "aggregate_demand", "bed_layer", "bed_legend",
    "bind_popup", "build_map", "catchment_layer", "catchment_legend", "centre_layer",
    "centre_legend", "coverage_legend", "demand_radius", "deterministic_ids", "district_label",
    "esc", "fmt_gap", "fmt_int", "fmt_num", "fmt_pct", "fmt_signed", "gap_legend",
    "green_channel_layer", "green_channel_legend", "is_missing", "missing_layers", "new_map",
    "render_html", "render_map", "result_layers", "station_layer", "station_legend",
    "station_size", "status_line", "study_bounds", "title_html", "uncovered_layer",
    "uncovered_legend", "valid_points", "write_map",
]

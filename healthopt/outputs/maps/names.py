"""Names shown on the scenario map: layer names (as in the layer control) and shared labels."""

from __future__ import annotations

LAYER_COVERAGE_SHARE = "呼叫及时率 Calls reached in time (simulated)"
LAYER_NORM_GAP = "救护车缺口 Ambulance norm gap"
LAYER_CATCHMENTS = "覆盖范围 Coverage areas"
LAYER_UNCOVERED = "范围外人口 Residents outside every catchment"
LAYER_STATIONS = "急救站 Ambulance stations"
LAYER_CENTRES = "基层医疗 Health centres"
LAYER_BEDS = "床位变化 Hospital bed changes"
LAYER_GREEN = "绿色通道 Critical-care green channel"
LAYER_LABELS = "区县名称 District names"
LAYER_DISTRICTS = "区县 Districts"
LAYER_CITIES = "地市 Cities"

#: Result layer -> map layer names it feeds (used to say what is missing).
LAYERS: dict[str, tuple[str, ...]] = {
    "districts": (LAYER_COVERAGE_SHARE, LAYER_NORM_GAP, LAYER_LABELS),
    "coverage_areas": (LAYER_CATCHMENTS,),
    "demand": (LAYER_UNCOVERED,),
    "stations": (LAYER_STATIONS,),
    "health_centres": (LAYER_CENTRES,),
    "beds": (LAYER_BEDS,),
}

ESTIMATE_NOTE = "⚠ / 虚线 dashed = 估算 estimated values"
PROXY_LABEL = "proxy location 代用位置"
ESTIMATED_TT_LABEL = "estimated travel time 估算行程时间"
NO_DATA = "#d9d9d9"
#: Id of the SVG hatch pattern of estimated coverage areas (defined by the page stylesheet).
HATCH_ID = "hopt-hatch"

"""Trade-off charts of a batch: simulated share of calls reached in time against fleet size.

One line per response standard, one panel per congestion factor; the y value is each
member's ``summary["ambulances"]["simulated"]["reached_share"]`` (the report's headline) and
the error bars its 95 % interval.

The PNG (matplotlib) is for reports and slides; the HTML (Plotly, its JavaScript inlined so it
opens offline) lets a planner hover over a point to see the scenario behind it.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

X, Y = "fleet_planned", "sim_reached_share"
LOW, HIGH = "sim_reached_ci_low", "sim_reached_ci_high"
SERIES, FACET = "response_urban_min", "congestion"
# English only: the PNG must not depend on a CJK font being installed.
X_LABEL = "Ambulances planned"
Y_LABEL = "Calls reached within the standard (simulated, %)"


def _prepared(frame: pd.DataFrame) -> pd.DataFrame:
    cols = ["scenario", X, Y, LOW, HIGH, SERIES, FACET, "norms_met"]
    data = pd.DataFrame(frame[[c for c in cols if c in frame]]).dropna(subset=[X, Y])
    pct = data[Y].astype(float) * 100
    low = data[LOW].astype(float) * 100 if LOW in data else pct
    high = data[HIGH].astype(float) * 100 if HIGH in data else pct
    data = data.assign(covered_pct=pct, err_low=(pct - low).fillna(0.0), err_high=(high - pct).fillna(0.0))
    return data.sort_values([FACET, SERIES, X, "scenario"], kind="mergesort")


def tradeoff_png(frame: pd.DataFrame, path: str | Path, *, title: str = "") -> Path:
    """Draw simulated calls reached in time against fleet size, one line per urban standard and congestion panel.

    Parameters
    ----------
    frame : DataFrame
        Batch summary rows of planned scenarios.
    path : str or Path
        PNG file.
    title : str
        Chart title.

    Returns
    -------
    Path
    """
    # A bare Figure, not pyplot: no backend switch, so a notebook's own plots keep working.
    from matplotlib.figure import Figure

    data = _prepared(frame)
    facets = sorted(data[FACET].unique()) or [1.0]
    fig = Figure(figsize=(5.5 * len(facets), 4.2))
    axes = fig.subplots(1, len(facets), sharey=True, squeeze=False)
    for ax, factor in zip(axes[0], facets, strict=True):
        part = data[data[FACET] == factor]
        for minutes, line in part.groupby(SERIES, sort=True):
            ax.errorbar(line[X], line["covered_pct"], yerr=[line["err_low"], line["err_high"]], marker="o",
                        capsize=3, label=f"{minutes:g} min urban standard")
            relaxed = line[line["norms_met"] == False]  # noqa: E712 - None means unknown
            ax.scatter(relaxed[X], relaxed["covered_pct"], s=60, facecolors="none", edgecolors="#b71c1c")
        ax.set_title(f"congestion × {factor:g}" if len(facets) > 1 else title)
        ax.set_xlabel(X_LABEL)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(Y_LABEL)
    if axes[0][-1].get_legend_handles_labels()[0]:  # a facet without planned members has nothing to label
        axes[0][-1].legend(fontsize=8, loc="lower right")
    if len(facets) > 1 and title:
        fig.suptitle(title)
    fig.text(0.01, 0.01, "Simulated, 95 % CI bars; call rates and service time are estimates. "
             "Red ring: norms relaxed.", fontsize=7)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(path, dpi=110, metadata={"Software": None})
    return Path(path)


def tradeoff_html(frame: pd.DataFrame, path: str | Path, *, title: str = "") -> Path:
    """Write the same chart as a self-contained interactive HTML page (Plotly, works offline).

    Parameters
    ----------
    frame : DataFrame
        Batch summary rows of planned scenarios.
    path : str or Path
        HTML file.
    title : str
        Chart title.

    Returns
    -------
    Path
    """
    import plotly.express as px

    data = _prepared(frame)
    data = data.assign(standard=data[SERIES].map(lambda m: f"{m:g} min"),
                       norms=data["norms_met"].map({True: "met", False: "relaxed"}).fillna("n/a"))
    fig = px.line(data, x=X, y="covered_pct", color="standard", error_y="err_high", error_y_minus="err_low",
                  facet_col=FACET if data[FACET].nunique() > 1
                  else None, markers=True, hover_name="scenario", hover_data={"norms": True},
                  labels={X: X_LABEL, "covered_pct": Y_LABEL, "standard": "Urban standard", FACET: "Congestion"},
                  title=title)
    fig.write_html(path, include_plotlyjs=True, full_html=True, div_id="tradeoff")
    return Path(path)

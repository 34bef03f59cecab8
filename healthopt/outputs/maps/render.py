"""Rendering a map or figure to deterministic, self-contained HTML.

Pages render under :func:`healthopt.outputs._html.literal_output` (no rendered text is
parsed as a template again) and :func:`healthopt.outputs._html.deterministic_ids` (same
input, same bytes); offline pages get their scripts and stylesheets inlined.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from healthopt.outputs._html import deterministic_ids, literal_output
from healthopt.outputs.offline import inline_html


def render_html(root: Any, *, offline: bool, assets_dir: str | Path | None = None) -> str:
    """Render a folium Map/Figure deterministically; inline its assets if ``offline``.

    Parameters
    ----------
    root : folium.Map or branca.element.Figure
    offline : bool
    assets_dir : str or Path, optional
        Folder of vendored assets (default: the copy shipped in the package).

    Returns
    -------
    str

    Raises
    ------
    healthopt.outputs.offline.OfflineAssetError
        If ``offline`` and the page needs an asset that is not vendored.
    """
    with deterministic_ids("r"), literal_output():
        html = root.get_root().render()
    return inline_html(html, assets_dir) if offline else html


def render_map(m: Any) -> str:
    """Return the HTML of a map made by :func:`healthopt.outputs.maps.build_map`.

    Parameters
    ----------
    m : folium.Map
        Self-contained if it was built with ``offline=True``.

    Returns
    -------
    str
    """
    return render_html(m, offline=getattr(m, "healthopt_offline", False),
                       assets_dir=getattr(m, "healthopt_assets_dir", None))

"""The analyst notebooks in notebooks/: stored without outputs, and each one runs from top to bottom.

The notebooks are executed with nbclient on an IPython kernel that runs this interpreter (the
project's venv), from the notebooks/ folder as an analyst would open them. Their outputs go to a
temporary folder (``HEALTHOPT_NOTEBOOK_OUT``), never into the repository.
"""

from __future__ import annotations

import itertools
import json
import sys
import time
from pathlib import Path

import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
EXPECTED = {"01_quickstart.ipynb", "02_sweep_analysis.ipynb", "03_bring_your_own_data.ipynb", "04_models_only.ipynb"}
#: Longest any single cell may take (the quickstart's baseline run takes ~1.5 min on 2 cores).
CELL_TIMEOUT_S = 900
KERNEL_NAME = "healthopt-venv"


def test_the_notebooks_are_there():
    assert {p.name for p in NOTEBOOKS} >= EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stored_without_outputs(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    dirty = [
        index
        for index, cell in enumerate(nb["cells"])
        if cell["cell_type"] == "code" and (cell.get("outputs") or cell.get("execution_count") is not None)
    ]
    assert not dirty, (
        f"{path.name}: code cells {dirty} carry outputs or execution counts; clear them before committing "
        f"(Jupyter: Edit > Clear Outputs of All Cells, or "
        f"`jupyter nbconvert --clear-output --inplace notebooks/{path.name}`)"
    )


def _kernel_manager(kernel_dir: Path):
    """A kernel manager whose only kernel runs this interpreter (never a user's or system 'python3')."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    spec = kernel_dir / KERNEL_NAME
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "healthopt (.venv)",
        "language": "python",
    }), encoding="utf-8")
    return KernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernel_dir)]))


@pytest.mark.slow
@pytest.mark.parametrize(
    "path",
    # one xdist group per notebook (conftest): the minute-long notebooks can run on both workers at once
    [pytest.param(p, marks=pytest.mark.xdist_group(f"notebook-{p.stem}"), id=p.name) for p in NOTEBOOKS],
)
def test_notebook_runs_end_to_end(path, tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    monkeypatch.setenv("HEALTHOPT_NOTEBOOK_OUT", str(tmp_path / "out"))
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb, km=_kernel_manager(tmp_path / "kernels"), timeout=CELL_TIMEOUT_S,
        resources={"metadata": {"path": str(NOTEBOOK_DIR)}},
    )
    before = sorted(NOTEBOOK_DIR.iterdir())
    t0 = time.perf_counter()
    client.execute()  # raises CellExecutionError with the failing cell and its traceback
    print(f"{path.name}: {time.perf_counter() - t0:.0f} s")
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    assert sorted(NOTEBOOK_DIR.iterdir()) == before, "the notebook wrote files beside itself"
    if path.stem == "02_sweep_analysis":
        _chart_is_monotone_in_the_fleet_budget(tmp_path / "out" / path.stem / "notebook_fleet_tradeoff")


def _chart_is_monotone_in_the_fleet_budget(batch: Path) -> None:
    """The sweep chart's y (simulated share of calls reached) never falls as the fleet budget grows.

    Checked for every urban standard of the notebook's sweep: the model's own objective (expected
    calls reached) must not fall at all; the simulated share (a seeded year of calls) by no more
    than its 95 % interval's half-width, as the simulation tests allow (nearest-available
    dispatch is not monotone on every sample path), and the largest budget must beat the smallest.
    """
    import pandas as pd

    frame = pd.read_csv(batch / "batch_summary.csv")
    assert set(frame["status"]) == {"ok"}, frame["status"].tolist()
    for _, line in frame.sort_values("fleet_budget").groupby("response_urban_min"):
        assert len(line) == 3
        expected = line["calls_covered_expected"].to_numpy()
        assert all(b >= a - 1e-6 for a, b in itertools.pairwise(expected)), expected
        share = line["sim_reached_share"].to_numpy()
        half = ((line["sim_reached_ci_high"] - line["sim_reached_ci_low"]) / 2).to_numpy()
        assert all(b >= a - h for a, b, h in zip(share[:-1], share[1:], half[:-1], strict=True)), share
        assert share[-1] > share[0]


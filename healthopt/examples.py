"""The shipped scenario files, for users of the installed package.

In the repository they are ``scenarios/*.yaml`` and ``scenarios/sweeps/*.yaml`` (the README's
paths); the wheel carries the same files as ``healthopt/examples/`` (copied at build time by
``setup.py``).  Every shipped scenario uses the embedded dataset (``dataset: taiyuan``), which
ships in the package too, so a pip user can run one without the repository::

    healthopt run "$(python -c 'import healthopt.examples as e; print(e.example_path("taiyuan_2025_baseline"))')"

or copy them into a folder to edit (:func:`copy_examples`).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from healthopt import settings
from healthopt.errors import InputError

#: Where the wheel puts the shipped scenarios.
PACKAGED_DIR: Path = Path(__file__).resolve().with_name("examples")


def examples_dir() -> Path:
    """Return the folder of the shipped scenarios.

    Returns
    -------
    Path
        ``healthopt/examples`` in an installed wheel, else ``<repository>/scenarios``.

    Raises
    ------
    InputError
        If neither exists (a broken installation).
    """
    for folder in (PACKAGED_DIR, settings.ROOT / "scenarios"):
        if folder.is_dir() and any(folder.glob("*.yaml")):
            return folder
    raise InputError(PACKAGED_DIR, None, "the shipped scenarios are missing: reinstall healthopt")


def list_examples() -> list[str]:
    """Return the names of the shipped scenarios (sweeps as ``sweeps/<name>``), sorted.

    Returns
    -------
    list of str
    """
    root = examples_dir()
    return sorted(p.relative_to(root).with_suffix("").as_posix() for p in root.rglob("*.yaml"))


def example_path(name: str) -> Path:
    """Return the file of the shipped scenario ``name`` (e.g. ``"taiyuan_2025_baseline"``).

    Parameters
    ----------
    name : str
        A name from :func:`list_examples`; a trailing ``.yaml`` is accepted.

    Returns
    -------
    Path

    Raises
    ------
    InputError
        If there is no such shipped scenario (the message lists the names).
    """
    stem = name.removesuffix(".yaml")
    if stem not in list_examples():
        raise InputError(None, "example", f"no shipped scenario {name!r}; choose one of {', '.join(list_examples())}")
    return examples_dir() / f"{stem}.yaml"


def copy_examples(dest: str | Path) -> list[Path]:
    """Copy every shipped scenario into ``dest`` (sweeps into ``dest/sweeps``), keeping their layout.

    The sweeps refer to the baseline as ``../taiyuan_2025_baseline.yaml``, which still holds
    in the copy.  Existing files are never replaced: if any target exists, nothing is copied.

    Parameters
    ----------
    dest : str or Path
        Target folder (created if missing).

    Returns
    -------
    list of Path
        The files written, sorted.

    Raises
    ------
    InputError
        Naming the first target file that already exists, or a target that is not a folder.
    """
    root, out = examples_dir(), Path(dest)
    if out.exists() and not out.is_dir():
        raise InputError(out, None, "exists and is not a folder")
    # with the layers a scenario names (peak traffic evaluates layers/taiyuan_2025_baseline_stations.csv)
    files = sorted([*root.rglob("*.yaml"), *root.glob("layers/*.csv")])
    pairs = [(src, out / src.relative_to(root)) for src in files]
    for _src, target in pairs:
        if target.exists() or target.is_symlink():
            raise InputError(target, None, "already exists: not replaced (remove it or copy into another folder)")
    for src, target in pairs:
        target.parent.mkdir(parents=True, exist_ok=True)
        with src.open("rb") as source, target.open("xb") as copy:  # "x": never replace a file
            shutil.copyfileobj(source, copy)
    return [target for _src, target in pairs]

"""Build hook: ship the repository's scenarios/ folder inside the wheel as ``healthopt/examples``.

All metadata is in pyproject.toml. README commands use ``scenarios/...`` paths, so the files
stay there in the repository; a pip user gets the same files through ``healthopt.examples``.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

SCENARIOS = Path(__file__).resolve().parent / "scenarios"


class BuildPyWithExamples(build_py):
    """``build_py`` that also copies ``scenarios/**/*.yaml`` (and the layers they name) to ``healthopt/examples/``."""

    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "healthopt" / "examples"
        for src in sorted([*SCENARIOS.rglob("*.yaml"), *SCENARIOS.glob("layers/*.csv")]):
            out = target / src.relative_to(SCENARIOS)
            self.mkpath(str(out.parent))
            self.copy_file(str(src), str(out))


setup(cmdclass={"build_py": BuildPyWithExamples})

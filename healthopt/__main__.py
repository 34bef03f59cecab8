"""``python -m healthopt``: the ``healthopt`` command without the console script."""

from healthopt.cli import run

run()

"""``python -m healthopt.cli``: the ``healthopt`` command without the console script."""

from healthopt.cli import run

run()

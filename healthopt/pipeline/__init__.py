"""One scenario end to end: shared inputs, plans, results and provenance.

:mod:`~healthopt.pipeline.run` (the steps), :mod:`~healthopt.pipeline.results` (the typed
``summary.json`` and the result layers), :mod:`~healthopt.pipeline.provenance` (input hashes,
versions, reproducibility).
"""

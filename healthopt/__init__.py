"""healthopt: geospatial resource-allocation optimizer for public-health planning.

The folders follow one scenario through the tool:

* ``healthopt.scenario`` — the scenario file, validated (defaults from the one norms table);
* ``healthopt.data`` — embedded or user data in; ``healthopt.network`` — road graph;
  ``healthopt.demand`` — demand points; ``healthopt.sites`` — candidate sites;
  ``healthopt.traveltime`` — sparse travel times;
* ``healthopt.models`` — generic location models (LSCP, MCLP, p-median, p-center, DSM,
  MEXCLP), built on ``healthopt.milp`` (problem builder, solver backends, diagnosis);
* ``healthopt.plans`` — the planning questions (ambulances, green channel, primary care,
  beds), composed from the models, listed in ``healthopt.plans.registry``;
* ``healthopt.pipeline`` — one run end to end; ``healthopt.outputs`` — maps, report,
  tables; ``healthopt.batch`` — many runs; ``healthopt.cli`` — the ``healthopt`` command.
"""

__version__ = "0.1.0"

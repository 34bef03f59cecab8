"""Plans: the planning questions of a scenario, built on the generic ``healthopt.models``.

:mod:`healthopt.plans.base` defines what a plan is to the pipeline (the :class:`~healthopt.plans.base.Plan`
protocol), :mod:`healthopt.plans.registry` lists the plans a run solves, in order. The
ambulance plan spans four modules: :mod:`~healthopt.plans.ambulances` (the model and the
pipeline's ``Ambulances``), ``ambulance_rules`` (inputs, norms, feasibility checks),
``ambulance_search`` (the MIP start) and ``ambulance_results`` (its result tables).
"""

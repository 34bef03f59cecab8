"""Queueing for ambulance planning: Erlang B/C, the hypercube model and a call simulation.

* :mod:`~healthopt.queueing.calls` — calls per demand point, service time, dispatch delay.
* :mod:`~healthopt.queueing.erlang` — M/M/c formulas (Erlang B recursion, Erlang C).
* :mod:`~healthopt.queueing.hypercube` — Larson's hypercube model, exact and approximate.
* :mod:`~healthopt.queueing.simulate` — seeded discrete-event simulation of a year of calls.
"""

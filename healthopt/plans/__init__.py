"""Plans: the planning questions of a scenario, built on the generic ``healthopt.models``."""

"""Mixed-integer programs: the problem builder, solver backends and infeasibility diagnosis."""

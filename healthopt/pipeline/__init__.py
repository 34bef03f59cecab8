"""One scenario end to end: shared inputs, plans, results and provenance."""

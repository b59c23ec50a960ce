"""Design-space exploration: every candidate folding on every board as a Dask task, one table,
one Pareto plot (flows.dse.run has the whole story; `bnnflow dse --help`, `make dse`)."""

# Points per board when the caller does not say (0: every candidate down to the slowest).
DEFAULT_MAX_POINTS = 16
ESTIMATES = ("yosys", "analytic")

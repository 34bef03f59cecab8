"""The ``healthopt`` command line (entry point :func:`run`).

Exit codes
----------
0  success (also when the reader of stdout went away after the run was written: ``| head -1``)
1  unexpected internal error (a bug: please report it with ``--debug`` output); one JSON
   line on stderr under ``--log-json``
2  bad input (scenario, data layer, arguments, a file, folder or environment variable the
   command cannot use): one line naming file and field; also a solver time limit too short
   to find any feasible plan (names ``solver.time_limit_s``: the fix is a scenario setting,
   not the norms)
3  infeasible plan: the norms cannot be met within the budgets (explained in words)
130 interrupted (Ctrl-C, SIGINT): the solver is stopped and nothing partial is written
143 / 129 terminated by SIGTERM / SIGHUP (``docker stop``, Slurm, systemd, a closed
   terminal): handled exactly like Ctrl-C

A plan stopped by the time limit with a feasible plan is a success (0): it is written and
marked "not proven optimal" with its gap in ``summary.json``, the report and the map.

Modules: :mod:`~healthopt.cli.app` (the commands), :mod:`~healthopt.cli.failures` (how a
failure ends a command), :mod:`~healthopt.cli.checks` (arguments and environment checked
before any work), :mod:`~healthopt.cli.tables` (rows of ``data info`` and ``network summary``).
"""

from healthopt.cli.app import app, run

__all__ = ["app", "run"]

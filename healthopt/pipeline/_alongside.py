"""Solve one plan in a forked child process while the run's process solves the others.

Why: on the baseline the ambulance plan keeps one core busy for most of its 10 s (HiGHS's
branch and bound is mostly serial), and the health-centre plan (4 s, ten district
p-medians) reads no other plan's result. A forked child inherits the built inputs for free
(copy-on-write) and hands back only the result. It runs at a lower priority (:data:`NICENESS`):
at the same priority it slowed the plan's two-core phase (its LP and start heuristic) as much
as it saved; niced, planning and outputs take 14.2 s against 15.2 s serially (mean of four).

Why the result may be unpickled: it comes from a child this process forked a moment
earlier, over a pipe only the two of them hold; nothing read from a file or a socket is
unpickled (the batch runner's forked pool returns its results the same way).

Only a process without HiGHS worker threads forks (a child would wait on threads it does
not have, see :func:`healthopt.milp.solve.highs_threads_alive`). Another live thread (the
command line's progress spinner) may hold the lock of a standard stream at the moment of the
fork, so the child never writes to the inherited streams: both point at ``/dev/null``.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from healthopt.milp.solve import highs_threads_alive

__all__ = ["Alongside", "can_fork_alongside"]

#: How much lower the child's scheduling priority is than the run's (``nice``).
NICENESS = 10


def can_fork_alongside() -> bool:
    """Return whether a plan can be solved in a forked child here (Linux, two cores, no HiGHS threads)."""
    if sys.platform != "linux" or "fork" not in multiprocessing.get_all_start_methods():
        return False
    return len(os.sched_getaffinity(0)) >= 2 and not highs_threads_alive()


class Alongside:
    """A call running in a forked child; :meth:`result` waits for it and returns (value, seconds).

    Parameters
    ----------
    fn : callable
        Called without arguments in the child; its return value must pickle.
    """

    def __init__(self, fn: Callable[[], Any]) -> None:
        ctx = multiprocessing.get_context("fork")
        self._recv, send = ctx.Pipe(duplex=False)
        self._proc = ctx.Process(target=_child, args=(fn, send), daemon=True, name="healthopt-alongside")
        self._proc.start()
        send.close()  # the child's end: EOF here when the child dies without answering

    def result(self) -> tuple[Any, float]:
        """Wait for the child; return its value and the seconds it took, or raise what it raised."""
        try:
            kind, value, seconds = self._recv.recv()  # trusted: this process's own child (module docstring)
        except EOFError:
            self._proc.join()
            code = self._proc.exitcode
            raise RuntimeError(f"the process solving a plan alongside stopped without a result (exit {code})") \
                from None
        except BaseException:  # Ctrl-C while waiting: do not wait for the child as well
            self.cancel()
            raise
        finally:
            self._recv.close()
            self._proc.join()
        if kind == "error":
            raise value
        return value, seconds

    def cancel(self) -> None:
        """Stop the child (Ctrl-C or an error in the run): it writes nothing the run keeps."""
        if self._proc.is_alive():
            self._proc.kill()
        self._proc.join()
        self._recv.close()


def _child(fn: Callable[[], Any], send: Any) -> None:
    # below the parent's priority: the parent's own two-core phases (the LP in HiGHS's thread and
    # the start heuristic beside it) keep their cores, the child takes what they leave
    os.nice(NICENESS)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 1)
    os.dup2(null, 2)
    sys.stdout = sys.stderr = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - lives as long as the child
    t0 = time.perf_counter()
    try:
        out: tuple[str, Any, float] = ("ok", fn(), time.perf_counter() - t0)
    except BaseException as exc:  # handed to the parent, which raises it where the plan would have run
        out = ("error", exc, time.perf_counter() - t0)
    try:
        send.send(out)
    except Exception as exc:  # e.g. an exception that does not pickle
        send.send(("error", RuntimeError(f"{type(out[1]).__name__}: {out[1]} ({exc})"), 0.0))
    send.close()

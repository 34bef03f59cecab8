"""SIGTERM and SIGHUP end a command the way Ctrl-C does.

``docker stop``, Slurm, systemd and a closed terminal send SIGTERM or SIGHUP, not SIGINT.
Python's default for both is to die on the spot, which skips every ``finally`` and leaves
the hidden ``.NAME.XXXX.partial/`` folder of a run behind. :func:`install` turns them into
:class:`Terminated`, a :class:`KeyboardInterrupt`, so every path that already cleans up
after Ctrl-C (the solver is cancelled, a CBC child is killed, the temporary run folder is
removed) does the same for them. The command then exits with ``128 + signal number``, the
shell convention: 143 for SIGTERM, 129 for SIGHUP (130 stays Ctrl-C).

Worker processes of ``healthopt batch --workers N`` receive SIGINT from the handler: they
already stop their current scenario cleanly on Ctrl-C and exit.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import threading
from types import FrameType

__all__ = ["HANDLED", "Terminated", "exit_code", "install", "received", "signal_name"]

#: The signals handled like Ctrl-C (SIGHUP does not exist on Windows).
HANDLED: tuple[signal.Signals, ...] = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)
)

#: Signals received since :func:`install`, in order.
_RECEIVED: list[int] = []


class Terminated(KeyboardInterrupt):
    """Raised in the main thread when SIGTERM or SIGHUP arrives.

    Parameters
    ----------
    signum : int
        The signal number.
    """

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(signal_name(signum))


def signal_name(signum: int) -> str:
    """Return ``"SIGTERM"`` for 15 and so on."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def _handle(signum: int, _frame: FrameType | None) -> None:
    first = not _RECEIVED
    _RECEIVED.append(signum)
    if not first:
        return  # a second SIGTERM must not cut the clean-up of the first one short
    for child in multiprocessing.active_children():
        if child.pid:
            with contextlib.suppress(OSError):  # it ended meanwhile
                os.kill(child.pid, signal.SIGINT)
    raise Terminated(signum)


def install() -> bool:
    """Handle SIGTERM and SIGHUP like Ctrl-C in this process; return whether it was possible.

    Only the main thread of the main interpreter may set signal handlers; elsewhere (e.g. a
    notebook kernel thread) nothing changes and ``False`` is returned. A signal the
    process inherited as ignored (``nohup`` ignores SIGHUP) stays ignored.
    """
    if threading.current_thread() is not threading.main_thread():
        return False
    _RECEIVED.clear()
    for sig in HANDLED:
        if signal.getsignal(sig) is signal.SIG_IGN:
            continue
        signal.signal(sig, _handle)
    return True


def received() -> int | None:
    """Return the first SIGTERM/SIGHUP received since :func:`install`, or ``None``."""
    return _RECEIVED[0] if _RECEIVED else None


def exit_code() -> int:
    """Return the exit code of an interrupted command: ``128 + signal``, 130 for Ctrl-C."""
    signum = received()
    return 128 + signum if signum is not None else 130

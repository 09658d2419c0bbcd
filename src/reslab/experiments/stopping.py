"""A clean stop of a sweep on SIGTERM or Ctrl-C: the workers end, the finished records stay.

A job scheduler, ``timeout`` or ``kill`` sends SIGTERM, whose default action ends the driver at
once: no ``finally`` runs, so a process pool's workers (and multiprocessing's resource tracker)
are orphaned and train on. While an executor runs, ``SignalStop`` turns SIGTERM and SIGINT into
``Stopped`` (a ``KeyboardInterrupt``, so ``except Exception`` passes it by), raised in the main
thread; the executor then ends its workers (``end_processes``: terminate, a short grace, kill)
and lets it through, and the driver turns it into ``Interrupted``, which says how many runs
are kept. A signal that arrives while a result is being recorded (``SignalStop.shield``) waits
until the record is on disk, so the count is exact. A pool worker that receives SIGTERM unwinds
its task and leaves at once without reporting it (``leave_now``), so the pool counts itself
broken and ends the rest, instead of handing a queued task to a successor.

Belt and braces for the case no handler can cover (the driver killed by SIGKILL or crashing in
C): ``die_with_parent`` asks Linux to SIGKILL a worker when its parent dies
(``prctl(PR_SET_PDEATHSIG)``), the standard way to tie a child's life to its parent's without
polling. We chose it over a thread polling ``os.getppid()`` in each worker: it costs nothing,
reacts at once and needs no cooperation from the task's Python code, which may sit in a long
C++ kernel. On other systems there is no such call and the handler alone covers SIGTERM/SIGINT.
Linux sends it when the *thread* that started the worker ends: a pool starts its workers from
the thread that submits (the main thread) or, replacing a worker, from its manager thread,
and both outlive the workers they start.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

SIGNALS = (signal.SIGINT, signal.SIGTERM)
# Seconds a terminated worker gets to exit before it is killed: a worker holds nothing worth
# saving (only the driver writes records), so this only lets it release a GPU context cleanly.
GRACE_S = 3.0


class Stopped(KeyboardInterrupt):
    """Signal ``signum`` (SIGINT or SIGTERM) stopped the run; raised in the main thread."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class Interrupted(KeyboardInterrupt):
    """A sweep stopped by a signal after ``finished`` of its ``total`` runs were kept in
    ``run_dir`` (None: the run kept nothing on disk). ``exit_code`` is the shell's convention,
    128 + the signal number: 130 for Ctrl-C, 143 for SIGTERM."""

    def __init__(self, run_dir: Path | None, finished: int, total: int, signum: int) -> None:
        where = f" in {run_dir}" if run_dir is not None else ""
        super().__init__(f"{signal.Signals(signum).name}: {finished} of {total} runs kept{where}")
        self.run_dir, self.finished, self.total, self.signum = run_dir, finished, total, signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


class SignalStop:
    """While entered, SIGINT and SIGTERM raise ``Stopped`` in the main thread (the previous
    handlers come back on exit). The first signal raises; later ones are ignored, so that the
    clean-up they interrupted (ending the workers) is not itself cut short. A signal this
    process ignores stays ignored (a shell starts background jobs with SIGINT ignored, and
    ``nohup`` ignores SIGHUP the same way). Outside the main thread Python cannot set handlers:
    then nothing changes (Ctrl-C still raises KeyboardInterrupt in the main thread)."""

    def __init__(self) -> None:
        self._previous: dict[int, Any] = {}
        self._shielded = 0
        self._pending: int | None = None
        self.signum: int | None = None

    def __enter__(self) -> SignalStop:
        if threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.getsignal(s) for s in SIGNALS}
            self.install()
        return self

    def __exit__(self, kind: object, error: BaseException | None, tb: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        self._previous = {}
        # Ray's wait turns the handler's Stopped into a plain KeyboardInterrupt.
        caught = isinstance(error, KeyboardInterrupt) and not isinstance(error, Stopped)
        if caught and self.signum is not None:
            raise Stopped(self.signum) from None

    def install(self) -> None:
        """(Re)install the handlers, e.g. after a library replaced them (``ray.init`` does)."""
        for signum, previous in self._previous.items():
            if previous is not signal.SIG_IGN:
                signal.signal(signum, self._handle)

    @contextlib.contextmanager
    def shield(self) -> Iterator[None]:
        """A signal arriving inside is raised on leaving, once the block is done."""
        self._shielded += 1
        try:
            yield
        finally:
            self._shielded -= 1
        if not self._shielded and self._pending is not None:
            signum, self._pending = self._pending, None
            raise Stopped(signum)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None:
            return  # already stopping
        self.signum = signum
        if self._shielded:
            self._pending = signum
            return
        raise Stopped(signum)


def end_processes(processes: Iterable[Any], grace: float = GRACE_S) -> None:
    """SIGTERM every live process (``multiprocessing.Process``), wait up to ``grace`` seconds
    for them all, then SIGKILL those left and reap them."""
    procs = [p for p in processes if p.is_alive()]
    for p in procs:
        with contextlib.suppress(OSError, ValueError):
            p.terminate()
    deadline = time.monotonic() + grace
    for p in procs:
        p.join(max(0.0, deadline - time.monotonic()))
    for p in procs:
        if p.is_alive():
            with contextlib.suppress(OSError, ValueError):
                p.kill()
            p.join(5)


# In a pool worker: whether a task is running, and whether the driver asked it to stop.
_IN_TASK = False
_LEAVING = False


def leave_on_sigterm() -> None:
    """In a pool worker: on SIGTERM, leave cleanly (``leave_now``), after unwinding the running
    task if there is one (``worker_task``)."""
    signal.signal(signal.SIGTERM, _leave)


@contextlib.contextmanager
def worker_task() -> Iterator[None]:
    """Around each task of a pool worker: after SIGTERM it does not start, and SIGTERM during it
    raises ``SystemExit`` there (its ``finally`` blocks run), then the worker leaves."""
    global _IN_TASK
    if _LEAVING:  # handed over before the worker was stopped
        leave_now()
    _IN_TASK = True
    try:
        yield
    except SystemExit:
        if _LEAVING:
            leave_now()
        raise
    finally:
        _IN_TASK = False


def leave_now(code: int = 128 + signal.SIGTERM) -> NoReturn:
    """End this pool worker now without reporting its task. First the clean-up that ending a
    multiprocessing child does anyway (``multiprocessing.util._exit_function``, which its
    bootstrap calls when the target returns): it releases the semaphores this process
    registered (tqdm's lock), which a worker killed outright leaves to the resource tracker, and
    the tracker then warns about them after the driver's last line. Then ``os._exit``, skipping
    the interpreter's teardown (seconds with torch loaded). Unreported, the task makes the pool
    see a worker that died: it fails every pending task and ends the other workers, rather than
    start successors that would run the tasks already queued."""
    from multiprocessing import util

    with contextlib.suppress(Exception):
        util._exit_function()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def _leave(signum: int, frame: FrameType | None) -> None:
    global _LEAVING
    if _LEAVING:
        return
    _LEAVING = True
    if _IN_TASK:
        raise SystemExit(128 + signum)  # unwinds the task; worker_task then leaves
    leave_now(128 + signum)


PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_parent(parent: int) -> None:
    """Ask Linux to SIGKILL this process when its parent dies, then check that the parent did
    not die before the request (its pid would already have changed). A no-op elsewhere."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError, TypeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)

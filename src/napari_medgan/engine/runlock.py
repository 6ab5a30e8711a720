"""One trainer per run folder: an OS-level lock that a crash cannot leave stuck.

A trainer holds an exclusive lock on ``RUN/run.lock`` for as long as it may write checkpoints.
The lock is taken with ``fcntl.flock`` (POSIX) or ``msvcrt.locking`` (Windows, untested here):
the operating system drops it when the process ends, however it ends (SIGKILL, power loss of a
local disk, a crashed napari), so a stale file never blocks the next run. The file also records
who holds it (process id, host, start time, command), so a refused trainer can name the
running one. The file is never deleted: removing a lock file while others may open it would let
two processes lock two different files of the same name.

Two trainers in one process (say two Train widgets) are refused too: each :class:`RunLock`
opens the file on its own, and locks on separate open files conflict.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import threading
import time
import weakref
from pathlib import Path
from typing import Any

from .checkpoint import CheckpointError

LOCK_FILE = "run.lock"
log = logging.getLogger(__name__)

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]
    import msvcrt

# Windows locks a byte range, and a locked range cannot be read by others: lock one byte far
# beyond the text so the holder's description stays readable.
_WIN_LOCK_OFFSET = 1 << 30


class RunBusyError(CheckpointError):
    """The run folder is in use by another trainer; the message names it.

    ``holder`` is what the lock file says about that trainer (pid, host, started, command).
    """

    def __init__(self, message: str, holder: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.holder = holder or {}


def describe_process() -> str:
    """What this process is, for the lock file: its command line (or the interpreter)."""
    argv = [a for a in sys.argv if a]
    if not argv:
        return "python (interactive)"
    prog = Path(argv[0]).name
    if prog == "__main__.py":  # python -m package: name the package, not the file
        spec = getattr(sys.modules.get("__main__"), "__spec__", None)
        module = spec.name.removesuffix(".__main__") if spec is not None else ""
        prog = f"python -m {module}" if module else "python"
    elif prog in ("-c", "-m"):
        prog = "python"
    return " ".join([prog, *argv[1:]])[:300]


class RunLock:
    """Exclusive, crash-safe ownership of a run folder.

    Parameters
    ----------
    run_dir : path
        The run folder (created if missing).
    owner : str, optional
        What holds the lock, shown to a refused trainer (default: this process's command line).

    Notes
    -----
    :meth:`acquire` and :meth:`release` are idempotent; the lock is also released when the
    object is garbage collected and, by the operating system, when the process dies.
    """

    def __init__(self, run_dir: str | Path, owner: str | None = None) -> None:
        self.run_dir = Path(run_dir).expanduser()
        self.path = self.run_dir / LOCK_FILE
        self.owner = owner or describe_process()
        self._fd: int | None = None
        self._mutex = threading.Lock()
        self._finalizer: weakref.finalize | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> RunLock:
        """Take the lock or raise :class:`RunBusyError` naming the trainer that holds it."""
        with self._mutex:
            if self._fd is not None:
                return self
            self.run_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                _lock(fd)
            except OSError:
                holder = _read_info(fd)
                os.close(fd)
                raise RunBusyError(busy_message(self.run_dir, holder), holder) from None
            info = {
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
                "command": self.owner,
            }
            _write_info(fd, json.dumps(info))
            self._fd = fd
            self._finalizer = weakref.finalize(self, _unlock_and_close, fd)
            log.debug("locked run folder %s", self.run_dir)
            return self

    def release(self) -> None:
        """Give the folder up (no-op when not held)."""
        with self._mutex:
            if self._fd is None:
                return
            fd, self._fd = self._fd, None
            finalizer, self._finalizer = self._finalizer, None
            if finalizer is not None and finalizer.detach() is None:
                # the finalizer already closed it (at interpreter exit, before a training
                # generator was closed): the number may belong to another file by now
                return
            try:
                _write_info(fd, "")  # nobody holds it now; a crash would leave stale text only
            except OSError:
                pass
            _unlock_and_close(fd)
            log.debug("released run folder %s", self.run_dir)

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def check_free(run_dir: str | Path) -> None:
    """Raise :class:`RunBusyError` if a trainer holds ``run_dir`` now (creates nothing new)."""
    run_dir = Path(run_dir).expanduser()
    if not (run_dir / LOCK_FILE).exists():
        return
    probe = RunLock(run_dir)
    probe.acquire()
    probe.release()


def holder(run_dir: str | Path) -> dict[str, Any] | None:
    """Who holds ``run_dir`` (pid, host, started, command), or None when it is free."""
    try:
        check_free(run_dir)
    except RunBusyError as exc:
        return exc.holder
    return None


def busy_message(run_dir: Path, info: dict[str, Any] | None) -> str:
    """The refusal text: which folder, and who is training in it."""
    if info:
        who = (
            f"process {info.get('pid', '?')} on {info.get('host', '?')} "
            f"({info.get('command', '?')}), running since {info.get('started', '?')}"
        )
    else:
        who = "another trainer that is just starting"
    return (
        f"run folder {run_dir} is in use by {who}; wait for it to finish or stop it, "
        "or choose another run folder"
    )


# ---------------------------------------------------------------------- platform primitives
def _lock(fd: int) -> None:
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    else:  # pragma: no cover - Windows
        os.lseek(fd, _WIN_LOCK_OFFSET, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)


def _unlock_and_close(fd: int) -> None:
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
        else:  # pragma: no cover - Windows
            os.lseek(fd, _WIN_LOCK_OFFSET, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_info(fd: int, text: str) -> None:
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, text.encode())
    os.fsync(fd)


def _read_info(fd: int) -> dict[str, Any] | None:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        text = os.read(fd, 4096).decode(errors="replace").strip()
        info = json.loads(text) if text else None
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None

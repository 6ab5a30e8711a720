"""Progress from a plain thread into a napari generator worker, one tick at a time."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

_DONE = object()


def relay(work: Callable[[Callable[[Any], None]], None], name: str) -> Iterator[Any]:
    """Run ``work(put)`` in a daemon thread and yield every value it ``put``s until it returns.

    ``work`` keeps its own outcome (and its own exception handling); the thread is joined before
    this generator ends, so that outcome is complete when the caller reads it.
    """
    ticks: queue.Queue = queue.Queue()

    def run() -> None:
        try:
            work(ticks.put)
        finally:
            ticks.put(_DONE)

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    while (tick := ticks.get()) is not _DONE:
        yield tick
    thread.join()

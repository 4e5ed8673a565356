"""Sampling of repeated operations into few events, so events files stay small.

A poller reads the PLC every second for a whole run; one event per read would make the events
file as large as the capture's index. ``Tally`` counts operations and says when to write an
event: on the first operation and then once every ``every`` operations, each event carrying the
``count`` of operations since the previous one. ``flush()`` hands out what is left at the end,
so the ``count`` fields of a program's events always add up to the operations it did, and the
first event's timestamp marks when the activity began.
"""

from __future__ import annotations

import threading


class Tally:
    """Counts operations; ``add()`` returns a count to report when an event is due."""

    def __init__(self, every: int) -> None:
        self.every = max(1, every)
        self.total = 0
        self._pending = 0
        self._lock = threading.Lock()

    def add(self, n: int = 1) -> int | None:
        """Count ``n`` operations; the count to report now, or None when no event is due."""
        with self._lock:
            first = self.total == 0
            self.total += n
            self._pending += n
            if first or self._pending >= self.every:
                due, self._pending = self._pending, 0
                return due
            return None

    def flush(self) -> int:
        """The operations not yet reported (0 when none), and reset them."""
        with self._lock:
            due, self._pending = self._pending, 0
            return due

"""A bounded per-process cache, least recently used out first, for values made from rows that never change once
made (a model version, what is loaded or derived from it), or checked before they are relied on (a model row,
checked by the write that logs a score)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any


class BoundedCache:
    def __init__(self, size: int):
        self.size = size
        self._values: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_make(self, key: Hashable, make: Callable[[], Any]) -> Any:
        """The value kept under `key` (None too), else `make()`'s, kept. `make` runs outside the lock: two threads
        that miss at once may both make it, and the later one is kept."""
        found, value = self._find(key)
        if not found:
            value = make()
            self.put(key, value)
        return value

    def get(self, key: Hashable) -> Any:
        """The value kept under `key`, or None."""
        return self._find(key)[1]

    def _find(self, key: Hashable) -> tuple[bool, Any]:
        with self._lock:
            if key in self._values:
                self._values.move_to_end(key)
                return True, self._values[key]
        return False, None

    def put(self, key: Hashable, value: Any) -> None:
        with self._lock:
            self._values[key] = value
            self._values.move_to_end(key)
            while len(self._values) > self.size:
                self._values.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._values.clear()

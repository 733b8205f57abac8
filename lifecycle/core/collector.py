"""The cyclic garbage collector, paused while a large batch is answered and while a training run works.

A batch of 10,000 inputs makes some 100,000 containers (the parsed body, the cleaned inputs, the columns, the
answer's text) that all live until the answer is written, and every few hundred allocations the collector walked
them again: 10-25 ms of a 100 ms call (docs/BENCHMARKS.md). A run's samples are the same: three dicts or more per
sample, alive until the version is written, walked again and again while the run reads, checks and featurizes
them (pausing it took a 20,000-sample scorecard run from 0.38 to 0.28 s). Reference counting frees what a call or a run leaves
behind as usual; any cycle among it waits for the collector's next pass, at the latest the end of the pause.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager
from functools import wraps

# A request body from this size up is a large batch (a single input's body is a few hundred bytes).
LARGE_BODY = 1 << 16


@contextmanager
def paused(*, collect_first: bool = True):
    """No cyclic collection inside the block, after one full collection at its start (`collect_first`). That one
    frees what earlier calls left in reference cycles (DRF's request and view refer to each other, and so keep a
    large batch's parsed body until the collector runs): without it, an earlier batch's body would stay alive
    through this one. It takes 0.2-0.3 ms in a web process, or about 5 ms when it frees a 10,000-input body, which
    the collector's passes would otherwise have freed during this call; a training run, which leaves no such body,
    goes without (a full pass over a worker's heap costs tens of milliseconds). Where another block (or another
    thread's) already paused the collector, this one leaves it to that one."""
    if not gc.isenabled():
        yield
        return
    if collect_first:
        gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def paused_for_large_bodies(view_method):
    """A view method whose request, parsed body and answer included, runs with the collector paused when its body
    is LARGE_BODY or more."""
    @wraps(view_method)
    def wrapper(self, request, *args, **kwargs):
        try:
            size = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            size = 0
        if size < LARGE_BODY:
            return view_method(self, request, *args, **kwargs)
        with paused():
            return view_method(self, request, *args, **kwargs)

    return wrapper

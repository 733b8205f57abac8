"""Loaded versions, cached per process by version id: a swap is seen on the next request, a request
never mixes two versions, and no artifact is loaded per request."""

from __future__ import annotations

import threading
from collections import OrderedDict

from django.conf import settings

from lifecycle import learners, trainers
from lifecycle.model_types import TABULAR_TYPES
from lifecycle.models import ModelVersion

CACHE_SIZE = 16
# Keyed by id and content hash: a restored or recreated database can reuse an id, never a hash.
_cache: OrderedDict[tuple[int, str], object] = OrderedDict()
_lock = threading.Lock()


def loaded(version: ModelVersion, model_type: str):
    """The version's model, ready to predict; loads at most once per process while it stays cached."""
    key = (version.pk, version.artifact_sha256)
    with _lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
            return hit
    artifact = ModelVersion.objects.filter(pk=version.pk).values_list("artifact", flat=True).first()
    if artifact is None:
        raise ValueError(f"{version.label} has no artifact (pruned)")
    artifact = bytes(artifact)
    if model_type in TABULAR_TYPES:
        value = trainers.load(artifact, threads=settings.LIFECYCLE_TRAINING_THREADS)
    else:
        value = learners.load(artifact)
    with _lock:
        _cache[key] = value
        _cache.move_to_end(key)
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return value


_derived: dict[tuple[int, str, str], object] = {}
_MISSING = object()


def derived(version: ModelVersion, name: str, build):
    """`build()`, made once per process for this version (its input checker): a version's fields that scoring
    reads never change once it is made."""
    key = (version.pk, version.artifact_sha256, name)
    value = _derived.get(key, _MISSING)
    if value is _MISSING:
        value = build()
        with _lock:
            if len(_derived) >= 4 * CACHE_SIZE:
                _derived.clear()
            _derived[key] = value
    return value


def clear() -> None:
    with _lock:
        _cache.clear()
        _derived.clear()

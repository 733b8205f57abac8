"""Loaded versions, cached per process by version id: a swap is seen on the next request, a request
never mixes two versions, and no artifact is loaded per request."""

from __future__ import annotations

from django.conf import settings

from lifecycle import learners, trainers
from lifecycle.core.caches import BoundedCache
from lifecycle.model_types import TABULAR_TYPES
from lifecycle.models import ModelVersion

CACHE_SIZE = 16
# Keyed by id and content hash: a restored or recreated database can reuse an id, never a hash.
_loaded = BoundedCache(CACHE_SIZE)
_derived = BoundedCache(4 * CACHE_SIZE)


def loaded(version: ModelVersion, model_type: str):
    """The version's model, ready to predict; loads at most once per process while it stays cached."""
    def load():
        artifact = ModelVersion.objects.filter(pk=version.pk).values_list("artifact", flat=True).first()
        if artifact is None:
            raise ValueError(f"{version.label} has no artifact (pruned)")
        if model_type in TABULAR_TYPES:
            return trainers.load(bytes(artifact), threads=settings.LIFECYCLE_TRAINING_THREADS)
        return learners.load(bytes(artifact))

    return _loaded.get_or_make((version.pk, version.artifact_sha256), load)


def derived(version: ModelVersion, name: str, build):
    """`build()`, made once per process for this version (its input checker): a version's fields that scoring
    reads never change once it is made."""
    return _derived.get_or_make((version.pk, version.artifact_sha256, name), build)


def clear() -> None:
    _loaded.clear()
    _derived.clear()

"""Worker entry points of scoring: call a service, nothing else."""

from . import services


def prune_score_requests() -> int:
    return services.score_requests_prune()


def purge_impressions() -> int:
    return services.impressions_purge()

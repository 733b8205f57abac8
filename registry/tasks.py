"""Worker entry points of the registry: call a service, nothing else."""

from . import experiments, services


def watch_families():
    return services.watch_families()


def auto_promote_experiments():
    return experiments.experiments_auto_promote()

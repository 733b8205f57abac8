"""Worker entry points: take ids, call a service, nothing else."""

from . import services


def execute_run(run_id: int) -> None:
    services.run_execute(run_id=run_id)


def reap_stale_runs() -> list[int]:
    return services.runs_reap_stale()


def scheduled_retrain(model_id: int):
    return services.model_scheduled_retrain(model_id=model_id)

"""Worker entry points: take ids, call a service, nothing else."""

from . import services, webhooks
from .core.logs import request_context


def execute_run(run_id: int) -> None:
    # The run's log lines and audit rows carry "run-<id>" where a request's carry its request id.
    with request_context(f"run-{run_id}"):
        services.run_execute(run_id=run_id)


def reap_stale_runs() -> list[int]:
    return services.runs_reap_stale()


def scheduled_retrain(model_id: int):
    return services.model_scheduled_retrain(model_id=model_id)


def deliver_webhook(delivery_id: int):
    return webhooks.delivery_attempt(delivery_id=delivery_id)


def deliver_due_webhooks() -> list[int]:
    return webhooks.deliver_due()

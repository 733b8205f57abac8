"""Every transition and refusal of the training state machine, through the services."""

from datetime import timedelta

import pytest
from django.utils import timezone

from lifecycle import services
from lifecycle.choices import RunKind, RunStatus, State
from lifecycle.core.errors import ApplicationError
from lifecycle.models import ModelEvent, Sample, TrainingRun
from tests.factories import add_samples, make_model, ready_model, sample_rows, train_now

pytestmark = pytest.mark.django_db


def refused(code, fn, *args, **kwargs) -> ApplicationError:
    with pytest.raises(ApplicationError) as info:
        fn(*args, **kwargs)
    assert info.value.code == code, info.value.message
    return info.value


def test_create_gives_the_seed_defaults_and_an_audit_row(analyst):
    model = make_model(analyst)
    assert (model.state, model.status, model.registry_status) == ("draft", "draft", "draft")
    assert (model.auto_learn, model.learn_mode, model.learn_schedule, model.outcome_weights) == (False, "none", None, None)
    assert (model.metrics, model.metrics_history, model.model_state, model.predictors) == ({}, [], {}, [])
    assert model.training_samples == 0 and model.last_trained_at is None and model.last_learned_at is None
    assert ModelEvent.objects.filter(model=model, action="model.created", actor_name="analyst").exists()


def test_duplicate_and_numeric_keys_are_refused(analyst):
    make_model(analyst)
    assert "already exists" in refused("validation_error", make_model, analyst).message
    refused("validation_error", services.model_create, actor=analyst, key="123", name="x", model_type="scorecard")
    refused("validation_error", services.model_create, actor=analyst, key="ok", name="x", model_type="nope")


def test_first_train_moves_draft_to_ready_with_version_1(analyst, capture):
    model = make_model(analyst)
    add_samples(model, analyst)
    run = train_now(model, analyst, capture)
    assert run.status == RunStatus.SUCCEEDED and run.progress == 100 and run.kind == RunKind.TRAIN
    assert model.state == State.READY
    assert model.active_version.version_no == 1 and model.active_version.triggered_by == "train"
    metrics = model.active_version.metrics["churn"]
    assert metrics["auc"] > 0.8
    assert set(metrics["breaks"]) == {"developing", "solid", "strong"}
    assert model.last_trained_at == model.last_learned_at is not None
    assert model.training_samples == 80
    assert len(model.metrics_history) == 1
    assert ModelEvent.objects.filter(model=model, action="version.created", to_value="ready").exists()


def test_train_while_in_flight_is_409_with_the_run_id(analyst):
    model = make_model(analyst)
    add_samples(model, analyst)
    run = services.model_train_enqueue(model=model, actor=analyst)  # not committed: stays queued
    model.refresh_from_db()
    assert model.state == State.BUSY
    error = refused("run_in_flight", services.model_train_enqueue, model=model, actor=analyst)
    assert error.status == 409 and error.headers["X-Run-Id"] == str(run.pk)
    refused("run_in_flight", services.model_discover_enqueue, model=model, actor=analyst)


def test_trait_and_sample_edits_are_draft_only(analyst, capture):
    model = ready_model(analyst, capture)
    error = refused("draft_only", services.trait_upsert, model=model, actor=analyst, traits=[{"name": "upsell"}])
    assert error.status == 409 and "new model" in error.message
    refused("draft_only", services.trait_delete, model=model, actor=analyst, key="churn")
    refused("draft_only", services.sample_add_batch, model=model, actor=analyst, samples=sample_rows(2))
    # Feedback still adds samples to a serving model, for the next retrain.
    result = services.sample_add_batch(model=model, actor=analyst, samples=sample_rows(2), source="feedback")
    assert len(result.ids) == 2


def test_failed_first_train_keeps_the_definition_and_allows_edits(analyst, capture):
    model = make_model(analyst)
    # Both classes labelled, so the run is queued; no feature values, so the trainer refuses it.
    services.sample_add_batch(model=model, actor=analyst, samples=[
        {"features": {"spend": None}, "labels": {"churn": i % 2}} for i in range(6)])
    run = train_now(model, analyst, capture)
    assert run.status == RunStatus.FAILED and "no features or content to learn from" in run.error
    assert model.state == State.FAILED and model.active_version is None
    assert model.traits.count() == 1 and Sample.objects.filter(model=model).count() == 6
    add_samples(model, analyst)  # a failed model accepts corrections
    assert train_now(model, analyst, capture).status == RunStatus.SUCCEEDED
    model.refresh_from_db()
    assert model.state == State.READY


def test_retrain_keeps_serving_and_swaps_atomically(analyst, capture):
    model = ready_model(analyst, capture)
    v1 = model.active_version
    run = services.model_train_enqueue(model=model, actor=analyst)
    model.refresh_from_db()
    assert model.state == State.BUSY and model.active_version == v1 and model.is_scorable
    assert run.kind == RunKind.RETRAIN


def test_retrain_creates_v2_and_retune_is_marked(analyst, capture):
    model = ready_model(analyst, capture)
    train_now(model, analyst, capture)
    assert model.active_version.version_no == 2 and model.active_version.triggered_by == "retrain"
    train_now(model, analyst, capture, reoptimize_params=True)
    assert model.active_version.version_no == 3 and model.active_version.triggered_by == "retune"


def test_failed_retrain_leaves_the_old_version_serving(analyst, capture, monkeypatch):
    from lifecycle import trainers

    model = ready_model(analyst, capture)
    v1 = model.active_version

    def cannot_train(*args, **kwargs):
        raise trainers.TrainingError("no_such_param: the samples cannot train")

    monkeypatch.setattr(trainers, "train", cannot_train)
    run = train_now(model, analyst, capture)
    assert run.status == RunStatus.FAILED and "no_such_param" in run.error
    assert model.state == State.READY and model.active_version == v1


def test_discovery_only_on_a_draft(analyst, capture):
    model = ready_model(analyst, capture)
    error = refused("invalid_transition", services.model_discover_enqueue, model=model, actor=analyst)
    assert "draft" in error.message


def test_discovery_attaches_intrinsic_traits_and_returns_to_draft(analyst, capture):
    model = make_model(analyst, traits=("churn",))
    rows = sample_rows(60)
    for row in rows[:30]:
        row["labels"]["vip"] = "positive" if row["features"]["spend"] > 50 else "negative"
    services.sample_add_batch(model=model, actor=analyst, samples=rows)
    with capture(execute=True):
        run = services.model_discover_enqueue(model=model, actor=analyst)
    run.refresh_from_db()
    model.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert model.state == State.DRAFT
    intrinsic = {t.key: t for t in model.traits.filter(kind="intrinsic")}
    assert "vip" in intrinsic and intrinsic["vip"].description
    # The same samples at the same effort are not explored twice.
    error = refused("run_in_flight", services.model_discover_enqueue, model=model, actor=analyst)
    assert error.headers["X-Run-Id"] == str(run.pk)


def test_archive_keeps_everything_and_refuses_while_busy(analyst, capture):
    model = ready_model(analyst, capture)
    services.model_train_enqueue(model=model, actor=analyst)
    model.refresh_from_db()
    refused("invalid_transition", services.model_archive, model=model, actor=analyst)
    TrainingRun.objects.filter(model=model, status=RunStatus.QUEUED).update(queued_at=timezone.now() - timedelta(days=1))
    services.runs_reap_stale()
    model = services.model_archive(model=model, actor=analyst)
    assert model.state == State.ARCHIVED and not model.is_scorable
    assert model.samples.count() == 80 and model.versions.count() == 1
    assert model.events.filter(action="model.archived").exists()
    refused("invalid_transition", services.model_train_enqueue, model=model, actor=analyst)
    restored = services.model_restore(model=model, actor=analyst)
    assert restored.state == State.READY


def test_a_run_without_heartbeat_is_reaped(analyst, capture, settings):
    model = ready_model(analyst, capture)
    run = services.model_train_enqueue(model=model, actor=analyst)
    past = timezone.now() - timedelta(seconds=settings.LIFECYCLE_RUN_HEARTBEAT_TIMEOUT + 5)
    TrainingRun.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING, started_at=past, heartbeat_at=past)
    assert services.runs_reap_stale() == [run.pk]
    run.refresh_from_db()
    model.refresh_from_db()
    assert run.status == RunStatus.FAILED and "no heartbeat" in run.error
    assert model.state == State.READY and model.active_version.version_no == 1
    # A late result from the dead worker is dropped, not swapped in.
    with pytest.raises(services.RunAbandoned):
        services.run_progress(run_id=run.pk, progress=50)


def test_rollback_pins_and_later_retrains_do_not_activate(analyst, capture):
    model = ready_model(analyst, capture)
    train_now(model, analyst, capture)
    assert model.active_version.version_no == 2
    services.version_activate(model=model, actor=analyst, version="v1")
    model.refresh_from_db()
    assert model.active_version.version_no == 1 and model.pinned
    train_now(model, analyst, capture)
    assert model.versions.count() == 3 and model.active_version.version_no == 1
    assert model.events.filter(action="version.activated", from_value="v2", to_value="v1").exists()
    services.model_unpin(model=model, actor=analyst)
    train_now(model, analyst, capture)
    assert model.active_version.version_no == 4


def test_tags_activate_and_survive_pruning(analyst, capture, settings):
    settings.LIFECYCLE_VERSIONS_KEPT_UNTAGGED = 1
    model = ready_model(analyst, capture)
    services.version_tag(model=model, actor=analyst, version="v1", name="baseline")
    train_now(model, analyst, capture)
    train_now(model, analyst, capture)
    train_now(model, analyst, capture)
    versions = {v.version_no: v for v in model.versions.all()}
    assert versions[1].artifact is not None  # tagged: kept
    assert versions[2].pruned_at is not None  # old and untagged: pruned
    assert versions[4].artifact is not None
    services.version_activate(model=model, actor=analyst, tag="baseline")
    model.refresh_from_db()
    assert model.active_version.version_no == 1
    assert refused("version_pruned", services.version_activate, model=model, actor=analyst, version="v2").status == 409
    refused("not_found", services.version_activate, model=model, actor=analyst, tag="nope")
    refused("validation_error", services.version_activate, model=model, actor=analyst, version="v1", tag="baseline")


def test_bad_sample_batches_store_nothing_and_name_the_row(analyst):
    model = make_model(analyst)
    rows = sample_rows(5)
    rows[3]["labels"] = {"churn": "maybe"}
    error = refused("validation_error", services.sample_add_batch, model=model, actor=analyst, samples=rows)
    assert "samples[3]" in error.message and "maybe" in error.message
    assert Sample.objects.count() == 0


def test_u22a8_sample_shape_and_unknown_label_keys(analyst):
    model = make_model(analyst)
    result = services.sample_add_batch(model=model, actor=analyst, samples=[
        {"trait": "Churn", "text": "bye", "quality": 1.0},
        {"content": "hi", "labels": {"upsell": 0.2}},
    ])
    assert result.unknown_label_keys == ["upsell"]
    first = Sample.objects.get(pk=result.ids[0])
    assert first.labels == {"churn": 1.0} and first.content == "bye"


def test_events_are_append_only(analyst):
    model = make_model(analyst)
    event = ModelEvent.objects.filter(model=model).first()
    event.message = "changed"
    with pytest.raises(PermissionError):
        event.save()
    with pytest.raises(PermissionError):
        event.delete()
    with pytest.raises(PermissionError):
        ModelEvent.objects.filter(model=model).update(message="x")


def test_audit_rows_resist_a_plain_sql_update_on_postgresql(analyst):
    from django.db import DatabaseError, connection, transaction

    if connection.vendor != "postgresql":
        pytest.skip("the trigger is PostgreSQL's; SQLite relies on the model and queryset guards")
    make_model(analyst)
    with pytest.raises(DatabaseError, match="append-only"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("UPDATE lifecycle_modelevent SET message = 'tampered'")
    with pytest.raises(DatabaseError, match="append-only"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("DELETE FROM lifecycle_modelevent")
    assert ModelEvent.objects.filter(message="tampered").count() == 0


def test_a_run_works_with_the_collector_paused_and_leaves_it_running(analyst, capture, monkeypatch):
    """A run reads, checks and featurizes its samples without the cyclic collector's passes over them, and leaves
    the collector running whether it succeeds or fails."""
    import gc

    from lifecycle import trainers

    model = make_model(analyst)
    add_samples(model, analyst)
    seen, real_train = [], trainers.train

    def train(*args, **kwargs):
        seen.append(gc.isenabled())
        if len(seen) == 2:
            raise trainers.TrainingError("refused on purpose")
        return real_train(*args, **kwargs)

    monkeypatch.setattr(trainers, "train", train)
    assert gc.isenabled()
    assert train_now(model, analyst, capture).status == RunStatus.SUCCEEDED
    assert gc.isenabled()
    failed = train_now(model, analyst, capture)
    assert failed.status == RunStatus.FAILED and failed.error == "refused on purpose"
    assert seen == [False, False] and gc.isenabled()

"""The training state machine, driven by random sequences of service calls (hypothesis stateful testing).

Each rule calls services as an analyst or the worker would and states what the service must do from the
state it was called in (the "oracle"). A refusal must be an ApplicationError and must change nothing; a
call that changes anything must write at least one ModelEvent. After every step the invariants of
DESIGN.md "Training state" are checked for every model the machine created.

Runs are executed by calling `services.run_execute` directly: inside the test transaction on_commit never
fires, so an enqueued run stays queued (in flight) until a rule executes it, reaps it, or the example ends.
Each example runs in a savepoint that teardown() rolls back, so examples never see each other's rows.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
import hypothesis
from hypothesis import HealthCheck, note, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from lifecycle import services
from lifecycle.choices import RUN_IN_FLIGHT, RunKind, RunStatus, SampleSource, State
from lifecycle.core.errors import ApplicationError
from lifecycle.models import AlgorithmModel, ModelEvent, ModelVersion, Sample, Trait, TrainingRun, VersionTag
from tests.factories import ready_model, sample_rows, train_now

TRAITS = ("churn", "upsell", "vip")
# "v1" and "v2" are legal tag names that look like version numbers: activating by tag must use the tag.
TAGS = ("baseline", "best", "v1", "v2")
EFFORT = "low"  # one C, one importance repeat: the state machine is under test here, not the learner
MAX_MODELS = 4  # more models per example would only spread the steps thin

# The audit actions that move AlgorithmModel.state; each one's to_value is the state it moved to.
STATE_ACTIONS = ("model.created", "model.archived", "model.restored", "run.queued", "run.failed",
                 "version.created", "discovery.completed")

EDITS = ("add_trait", "add_trait_with_samples", "add_samples", "add_positive_samples", "delete_trait")
TRAIN_MODES = ("train", "retune", "bad_params", "leave_in_flight")
DEATHS = ("never_picked_up", "no_heartbeat", "time_limit")
IN_FLIGHT_OPS = ("train", "archive", "edit", "activate", "unpin")

_keys = itertools.count(1)


class Refused(AssertionError):
    """A service refused a call that its state allowed."""


def _rows(n: int, trait: str, seed: int, *, positives_only: bool = False) -> list[dict]:
    rows = sample_rows(n, trait=trait, seed=seed)
    if positives_only:
        for row in rows:
            row["labels"] = {trait: "positive"}
    return rows


class LifecycleMachine(RuleBasedStateMachine):
    models = Bundle("models")

    def __init__(self, actor, seen: Counter | None = None):
        super().__init__()
        self.actor = actor
        self.seen = seen if seen is not None else Counter()  # what happened, over all examples
        self.pks: list[int] = []
        # pk -> (trait keys, explicit sample count) when the model was first seen with an active version.
        self.frozen: dict[int, tuple[tuple[str, ...], int]] = {}
        self._savepoint = transaction.atomic()
        self._savepoint.__enter__()
        # Only audit rows written in this example count (defensive: the savepoint already keeps others out).
        self.event_floor = ModelEvent.objects.aggregate(m=Max("id"))["m"] or 0

    def teardown(self):
        # Also undoes a transaction a failing step left broken, and the append-only audit rows.
        transaction.set_rollback(True)
        self._savepoint.__exit__(None, None, None)

    # ------------------------------------------------------------------------------------- helpers

    def _model(self, pk: int) -> AlgorithmModel:
        return AlgorithmModel.objects.get(pk=pk)

    def _events(self, pk: int) -> int:
        return ModelEvent.objects.filter(model_id=pk, id__gt=self.event_floor).count()

    def _snapshot(self, pk: int) -> dict:
        m = self._model(pk)
        return {
            "model": (m.state, m.active_version_id, m.pinned, m.last_run_id, m.training_samples),
            "traits": tuple(Trait.objects.filter(model_id=pk).order_by("key").values_list("key", "name")),
            "samples": tuple(Sample.objects.filter(model_id=pk).order_by("id").values_list("id", "source")),
            "versions": tuple(ModelVersion.objects.filter(model_id=pk).order_by("version_no")
                              .values_list("version_no", "pruned_at")),
            "runs": tuple(TrainingRun.objects.filter(model_id=pk).order_by("id").values_list("id", "status")),
            "tags": tuple(VersionTag.objects.filter(model_id=pk).order_by("name")
                          .values_list("name", "version__version_no")),
        }

    def _call(self, fn, *, expect: str | None = None, **kwargs):
        """Call a service, check a refusal changed nothing and a change wrote an event; (result, error).

        expect: None if the call must succeed, else the ApplicationError code it must refuse with."""
        before = {pk: (self._snapshot(pk), self._events(pk)) for pk in self.pks}
        name = fn.__name__
        try:
            result = fn(**kwargs)
        except ApplicationError as exc:
            note(f"  {name} refused: {exc.code}: {exc.message}")
            self.seen[f"{name} refused {exc.code}"] += 1
            for pk, (snap, events) in before.items():
                assert self._snapshot(pk) == snap, f"{name} was refused ({exc.code}) but model {pk} changed"
                assert self._events(pk) == events, f"{name} was refused ({exc.code}) but wrote an event on {pk}"
            if expect is None:
                raise Refused(f"{name} was refused ({exc.code}: {exc.message}); it should succeed") from exc
            assert exc.code == expect, f"{name} refused with {exc.code}, expected {expect}: {exc.message}"
            return None, exc
        note(f"  {name} ok")
        self.seen[f"{name} ok"] += 1
        for pk, (snap, events) in before.items():
            if self._snapshot(pk) != snap:
                assert self._events(pk) > events, f"{name} changed model {pk} without writing a ModelEvent"
        assert expect is None, f"{name} succeeded; it should be refused with {expect}"
        return result, None

    def _in_flight(self, pk: int) -> TrainingRun | None:
        return TrainingRun.objects.filter(model_id=pk, status__in=list(RUN_IN_FLIGHT)).first()

    @staticmethod
    def _editable(m: AlgorithmModel) -> bool:
        return m.state in (State.DRAFT, State.FAILED) and m.active_version_id is None

    def _enqueue(self, pk: int, **kwargs) -> TrainingRun | None:
        """model_train_enqueue, with the refusal its state calls for, or the queued run it must create."""
        m = self._model(pk)
        if kwargs.get("params"):  # the input is checked first, naming the parameter
            expect = "validation_error"
        elif self._in_flight(pk):
            expect = "run_in_flight"
        elif m.state == State.ARCHIVED:
            expect = "invalid_transition"
        elif not m.traits.exists() or not self._labelled_enough(m):
            expect = "validation_error"  # nothing is queued that the trainer would refuse
        else:
            expect = None
        run, error = self._call(services.model_train_enqueue, expect=expect, model=m, actor=self.actor,
                                effort=EFFORT, **kwargs)
        if error is not None:
            if error.code == "run_in_flight":
                assert error.headers["X-Run-Id"] == str(self._in_flight(pk).pk)
            return None
        run.refresh_from_db()
        after = self._model(pk)
        assert run.status == RunStatus.QUEUED and after.state == State.BUSY and after.last_run_id == run.pk
        assert after.active_version_id == m.active_version_id  # a retrain keeps serving the old version
        if m.state == State.READY:
            assert run.kind == (RunKind.RETUNE if kwargs.get("reoptimize_params") else RunKind.RETRAIN)
            assert after.is_scorable
        else:
            assert run.kind == RunKind.TRAIN and not after.is_scorable
        return run

    @staticmethod
    def _labelled_enough(m: AlgorithmModel) -> bool:
        """Every trait has at least two positive and two negative samples (positive from 0.5 up)."""
        labels = list(Sample.objects.filter(model=m).values_list("labels", flat=True))
        for key in m.traits.values_list("key", flat=True):
            known = [row[key] for row in labels if row.get(key) is not None]
            positives = sum(1 for value in known if value >= 0.5)
            if positives < 2 or len(known) - positives < 2:
                return False
        return True

    def _execute(self, pk: int, run: TrainingRun) -> TrainingRun:
        """The worker's side, synchronously, with the outcome checked against the state it ran from."""
        m = self._model(pk)
        top = m.versions.aggregate(n=Max("version_no"))["n"] or 0
        self._call(services.run_execute, run_id=run.pk)
        run.refresh_from_db()
        after = self._model(pk)
        note(f"  run {run.pk} ({run.kind}) -> {run.status} {run.error[:100]}")
        self.seen[f"run {run.kind} {run.status}"] += 1
        new = list(after.versions.filter(version_no__gt=top))
        assert run.status in (RunStatus.SUCCEEDED, RunStatus.FAILED)
        if run.status == RunStatus.SUCCEEDED:
            assert [v.version_no for v in new] == [top + 1] and new[0].run_id == run.pk
            assert after.state == State.READY
            if m.pinned and m.active_version_id:
                assert after.active_version_id == m.active_version_id, "a pinned model must keep its version"
            else:
                assert after.active_version_id == new[0].pk, "the new version must swap in"
        else:
            assert not new and run.error
            assert after.active_version_id == m.active_version_id
            assert after.state == (State.READY if m.active_version_id else State.FAILED)
        return run

    def _create(self, *, positives_only: bool, n: int, seed: int) -> int:
        key = f"sm-{next(_keys)}"
        m, _ = self._call(services.model_create, actor=self.actor, key=key, name=key, model_type="logistic_regression",
                          traits=[{"name": "churn"}])
        self.pks.append(m.pk)
        assert m.state == State.DRAFT and not m.is_scorable
        self._call(services.sample_add_batch, model=m, actor=self.actor,
                   samples=_rows(n, "churn", seed, positives_only=positives_only))
        note(f"  created {key} = pk {m.pk} ({'positives only' if positives_only else 'learnable'})")
        return m.pk

    # ------------------------------------------------------------------------------------- rules

    # Rules that take `pk` from the bundle try their call on any model, so refusals get their share. Rules
    # with a precondition draw their model among those where the call means something (a queued run to
    # pick up, a pinned model to unpin...), so the 15 steps of an example are not spent on no-ops.

    def _pick(self, data, pks: list[int]) -> int:
        return data.draw(st.sampled_from(sorted(pks)), label="pk")

    def _with_run(self, *statuses) -> list[int]:
        return list(TrainingRun.objects.filter(model_id__in=self.pks, status__in=statuses)
                    .values_list("model_id", flat=True))

    def _where(self, **filters) -> list[int]:
        return list(AlgorithmModel.objects.filter(pk__in=self.pks, **filters).values_list("pk", flat=True))

    @initialize(target=models)
    def a_serving_model(self):
        """Every example starts with one ready model, so retrains, pins and rollbacks come early."""
        pk = self._create(positives_only=False, n=60, seed=1)
        self._execute(pk, self._enqueue(pk))
        assert self._model(pk).state == State.READY
        return pk

    @initialize(target=models)
    def a_draft_model_that_cannot_train_yet(self):
        """Only positive samples: its train is refused until an edit adds negatives."""
        return self._create(positives_only=True, n=40, seed=2)

    @precondition(lambda self: len(self.pks) < MAX_MODELS)
    @rule(target=models, spec=st.tuples(st.booleans(), st.sampled_from([40, 80]), st.integers(1, 3)))
    def create_model(self, spec):
        """A logistic regression with one trait and learnable samples (or only positives: it cannot train yet)."""
        positives_only, n, seed = spec
        return self._create(positives_only=positives_only, n=n, seed=seed)

    @rule(pk=models, edit=st.tuples(st.sampled_from(EDITS), st.sampled_from(TRAITS), st.integers(1, 3)))
    def edit_definition(self, pk, edit):
        """Draft-only edits: accepted before the first ready (draft or failed), refused after and while busy."""
        self._edit(pk, *edit)

    @precondition(lambda self: self._where(state__in=[State.DRAFT, State.FAILED], active_version__isnull=True))
    @rule(data=st.data(), op=st.sampled_from(EDITS))
    def edit_a_draft(self, data, op):
        """An analyst correcting a model that has never been ready (a draft, or one whose train failed)."""
        pk = self._pick(data, self._where(state__in=[State.DRAFT, State.FAILED], active_version__isnull=True))
        self._edit(pk, op, data.draw(st.sampled_from(TRAITS), label="trait"), 1)

    def _edit(self, pk, op, trait, seed):
        m = self._model(pk)
        expect = None if self._editable(m) else "draft_only"
        if op.startswith("add_trait"):
            self._call(services.trait_upsert, expect=expect, model=m, actor=self.actor, traits=[{"name": trait}])
        if op in ("add_trait_with_samples", "add_samples", "add_positive_samples"):
            self._call(services.sample_add_batch, expect=expect, model=m, actor=self.actor,
                       samples=_rows(40, trait, seed, positives_only=op == "add_positive_samples"))
        if op == "delete_trait":
            if expect is None and not m.traits.filter(key=trait).exists():
                expect = "not_found"
            self._call(services.trait_delete, expect=expect, model=m, actor=self.actor, key=trait)
        if expect is None:
            self.seen["draft edit accepted"] += 1

    def _train(self, pk, mode):
        if mode == "leave_in_flight":
            self._enqueue(pk)
            return
        run = self._enqueue(pk, reoptimize_params=mode == "retune",
                            params={"no_such_param": 1} if mode == "bad_params" else None)
        if run is not None:
            self._execute(pk, run)

    @rule(pk=models, mode=st.sampled_from(TRAIN_MODES))
    def train(self, pk, mode):
        """Train (draft/failed) or retrain/retune (ready); executed at once, or left queued in flight."""
        self._train(pk, mode)

    @precondition(lambda self: self._where(active_version__isnull=False, state=State.READY))
    @rule(data=st.data(), mode=st.sampled_from(TRAIN_MODES))
    def retrain_a_serving_model(self, data, mode):
        self._train(self._pick(data, self._where(active_version__isnull=False, state=State.READY)), mode)

    @precondition(lambda self: self._with_run(RunStatus.QUEUED))
    @rule(data=st.data())
    def worker_picks_up_a_queued_run(self, data):
        pk = self._pick(data, self._with_run(RunStatus.QUEUED))
        self._execute(pk, self._in_flight(pk))

    def _run_in_flight_on(self, pk) -> TrainingRun | None:
        """The model's run in flight; when it has none, enqueue one and leave it queued (None if refused)."""
        return self._in_flight(pk) or self._enqueue(pk)

    @rule(pk=models, op=st.sampled_from(IN_FLIGHT_OPS))
    def poke_a_busy_model(self, pk, op):
        """With a run in flight: train again and archive are refused, edits are refused (draft only);
        activating an existing version and unpinning are accepted; none of it touches the run."""
        run = self._run_in_flight_on(pk)
        if run is None:
            return
        if op == "train":
            assert self._enqueue(pk) is None
        elif op == "archive":
            self._call(services.model_archive, expect="invalid_transition", model=self._model(pk), actor=self.actor)
        elif op == "edit":
            self._edit(pk, "add_trait_with_samples", "upsell", 1)
        elif op == "activate":
            self._activate(pk, number=1)
        else:
            self._unpin(pk)
        assert self._in_flight(pk) == run and self._model(pk).state == State.BUSY

    @rule(pk=models, death=st.sampled_from(DEATHS))
    def reaper_declares_a_run_dead(self, pk, death):
        """A queued run no worker picks up, or a worker that dies mid-run; the reaper marks it failed."""
        run = self._run_in_flight_on(pk)
        if run is None:
            reaped, _ = self._call(services.runs_reap_stale)
            assert reaped == [], "nothing is stale: the reaper must leave every run alone"
            return
        now = timezone.now()
        if death == "never_picked_up":
            past = now - timedelta(seconds=django_settings.LIFECYCLE_RUN_QUEUE_TIMEOUT + 60)
            TrainingRun.objects.filter(pk=run.pk).update(queued_at=past)
        else:  # what run_execute's claim writes, then a heartbeat that stopped or a run that never ends
            started = beat = now - timedelta(seconds=django_settings.LIFECYCLE_RUN_HEARTBEAT_TIMEOUT + 60)
            if death == "time_limit":
                started, beat = now - timedelta(seconds=django_settings.LIFECYCLE_RUN_TIME_LIMIT + 60), now
            TrainingRun.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING, started_at=started,
                                                         heartbeat_at=beat)
        m = self._model(pk)
        reaped, _ = self._call(services.runs_reap_stale)
        assert reaped == [run.pk], f"reaped {reaped}, expected only run {run.pk}"
        self.seen[f"reaped {death} {run.kind}"] += 1
        run.refresh_from_db()
        after = self._model(pk)
        assert run.status == RunStatus.FAILED and run.error and run.finished_at
        assert after.active_version_id == m.active_version_id
        assert after.state == (State.READY if m.active_version_id else State.FAILED)
        # A late delivery, heartbeat or result from the dead worker changes nothing.
        snapshot = self._snapshot(pk)
        self._call(services.run_execute, run_id=run.pk)
        with pytest.raises(services.RunAbandoned):
            services.run_progress(run_id=run.pk, progress=50)
        assert services.run_succeed(run=run, result=None, data_profile={}) is None
        assert self._snapshot(pk) == snapshot
        # Nothing else is stale now.
        reaped, _ = self._call(services.runs_reap_stale)
        assert reaped == []

    def _activate(self, pk, *, number=None, tag=None):
        m = self._model(pk)
        if tag is not None:
            found = VersionTag.objects.filter(model_id=pk, name=tag).select_related("version").first()
            target = found.version if found else None
        else:
            target = m.versions.filter(version_no=number).first()
        if m.state == State.ARCHIVED:
            expect = "invalid_transition"
        elif target is None:
            expect = "not_found"
        elif target.pruned_at is not None:
            expect = "version_pruned"
        else:
            expect = None
        version, _ = self._call(services.version_activate, expect=expect, model=m, actor=self.actor,
                                version=f"v{number}" if tag is None else None, tag=tag)
        if version is not None:
            after = self._model(pk)
            assert after.active_version_id == target.pk, (
                f"asked for {tag or number} ({target.label}), got {after.active_version.label}")
            assert after.pinned and after.state == m.state and after.is_scorable == m.is_scorable

    def _tag(self, pk, number, name):
        m = self._model(pk)
        # version_tag takes a reference: "vN" is version N or, when there is none, a tag called "vN".
        target = m.versions.filter(version_no=number).first() or next(
            (t.version for t in VersionTag.objects.filter(model_id=pk, name=f"v{number}")), None)
        tag, _ = self._call(services.version_tag, expect=None if target else "not_found", model=m,
                            actor=self.actor, version=f"v{number}", name=name)
        if tag is not None:
            assert VersionTag.objects.get(model_id=pk, name=name).version_id == target.pk

    @rule(pk=models, spec=st.tuples(st.sampled_from(["by_number", "by_tag", "tag"]), st.integers(1, 3),
                                    st.sampled_from(TAGS)))
    def activate_or_tag(self, pk, spec):
        """Any model, any reference: a rollback or pin, or a tag; refused on archived or unknown references."""
        op, number, name = spec
        if op == "tag":
            self._tag(pk, number, name)
        elif op == "by_tag":
            self._activate(pk, tag=name)
        else:
            self._activate(pk, number=number)

    @precondition(lambda self: self._where(active_version__isnull=False))
    @rule(data=st.data(), by_tag=st.booleans())
    def roll_back_a_serving_model(self, data, by_tag):
        """Pick one of a serving model's versions (pruned ones included), tag it or not, and activate it."""
        pk = self._pick(data, self._where(active_version__isnull=False))
        numbers = list(ModelVersion.objects.filter(model_id=pk).order_by("version_no")
                       .values_list("version_no", flat=True))
        number = data.draw(st.sampled_from(numbers), label="version")
        if by_tag:
            tag = data.draw(st.sampled_from(TAGS), label="tag")
            self._tag(pk, number, tag)
            self._activate(pk, tag=tag)
        else:
            self._activate(pk, number=number)

    @precondition(lambda self: self._where(pinned=True))
    @rule(data=st.data())
    def unpin_a_pinned_model(self, data):
        self._unpin(self._pick(data, self._where(pinned=True)))

    @precondition(lambda self: self._where(state=State.ARCHIVED))
    @rule(data=st.data())
    def restore_an_archived_model(self, data):
        self._restore(self._pick(data, self._where(state=State.ARCHIVED)))

    @rule(pk=models, then_restore=st.booleans())
    def archive(self, pk, then_restore):
        """Any model: archive (refused while busy); half the time restore at once, so it is no dead end."""
        m = self._model(pk)
        _, error = self._call(services.model_archive, expect="invalid_transition" if m.state == State.BUSY else None,
                              model=m, actor=self.actor)
        if error is not None:
            return
        after = self._model(pk)
        assert after.state == State.ARCHIVED and not after.is_scorable
        assert after.active_version_id == m.active_version_id  # keeps samples, versions and events
        if then_restore:
            self._restore(pk)

    @rule(pk=models, op=st.sampled_from(["restore", "unpin"]))
    def restore_or_unpin(self, pk, op):
        """Any model: restore (refused unless archived), unpin (always accepted)."""
        if op == "unpin":
            self._unpin(pk)
        else:
            self._restore(pk)

    def _unpin(self, pk):
        m = self._model(pk)
        self._call(services.model_unpin, model=m, actor=self.actor)
        after = self._model(pk)
        assert not after.pinned and after.active_version_id == m.active_version_id and after.state == m.state

    def _restore(self, pk):
        m = self._model(pk)
        _, error = self._call(services.model_restore,
                              expect=None if m.state == State.ARCHIVED else "invalid_transition",
                              model=m, actor=self.actor)
        if error is None:
            after = self._model(pk)
            assert after.state == (State.READY if m.active_version_id else State.DRAFT)
            assert after.is_scorable == (m.active_version_id is not None)

    # ------------------------------------------------------------------------------------- invariants

    @invariant()
    def lifecycle_invariants(self):
        for pk in self.pks:
            m = self._model(pk)
            traits = tuple(sorted(m.traits.values_list("key", flat=True)))
            explicit = m.samples.filter(source=SampleSource.EXPLICIT).count()
            versions = list(m.versions.order_by("version_no").values_list("version_no", "trait_keys"))
            in_flight = list(TrainingRun.objects.filter(model_id=pk, status__in=list(RUN_IN_FLIGHT)))

            # Draft-only edits never land after the first ready: the definition stays the one v1 learned.
            if m.active_version_id is not None:
                self.frozen.setdefault(pk, (traits, explicit))
                assert (traits, explicit) == self.frozen[pk], f"{m.key}: definition changed after the first ready"
                assert set(traits) == set(versions[0][1]), f"{m.key}: traits differ from the ones v1 learned"

            # A ready model always serves an active version.
            if m.state == State.READY:
                assert m.active_version_id is not None and m.is_scorable

            # Busy if and only if exactly one run is in flight, and it is the model's last run.
            if m.state == State.BUSY:
                assert len(in_flight) == 1, f"{m.key} is busy with {len(in_flight)} run(s) in flight"
                assert m.last_run_id == in_flight[0].pk
            else:
                assert not in_flight, f"{m.key} is {m.state} with run {in_flight[0].pk} in flight"

            # A failed model never had an active version (nor any version).
            if m.state == State.FAILED:
                assert m.active_version_id is None and not versions
                assert not ModelEvent.objects.filter(model_id=pk, action="version.created").exists()

            # The active version is the model's own and has an artifact to score with.
            if m.active_version_id is not None:
                assert ModelVersion.objects.filter(pk=m.active_version_id, model_id=pk, pruned_at__isnull=True,
                                                   artifact__isnull=False).exists(), f"{m.key}: bad active version"

            # Versions are numbered 1..n without gaps, one per succeeded run; a model with versions serves one.
            assert [v[0] for v in versions] == list(range(1, len(versions) + 1)), f"{m.key}: {versions}"
            assert TrainingRun.objects.filter(model_id=pk, status=RunStatus.SUCCEEDED).count() == len(versions)
            assert bool(versions) == (m.active_version_id is not None)

            # Every state change wrote an event: the last state-moving event names the current state.
            last = (ModelEvent.objects.filter(model_id=pk, id__gt=self.event_floor, action__in=STATE_ACTIONS)
                    .order_by("-id").values_list("action", "to_value").first())
            assert last is not None and last[1] == m.state, f"{m.key} is {m.state}; last state event: {last}"

            # Archived models, and models that never served, are not scorable.
            if m.state == State.ARCHIVED or m.active_version_id is None:
                assert not m.is_scorable


MACHINE_SETTINGS = settings(
    max_examples=25,
    stateful_step_count=15,
    deadline=None,
    derandomize=True,  # no random seed: the same sequences on every run, for CI (SEEDS below take precedence)
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=False,
)
# Fixed seeds. The first one normally reaches every path in MUST_SEE; the others only run when an edit to
# the services or to this machine reshuffles the draws so that 25 examples miss a path.
SEEDS = (1, 2, 3)

# Paths the examples must reach (patterns over the outcomes the machine counts), so a change that starves
# one shows up as a failure rather than as a silently weaker test.
MUST_SEE = {
    "a first train succeeds": r"run train succeeded",
    "a first train fails": r"run train failed|reaped \w+ train$",
    "a retrain succeeds": r"run (retrain|retune) succeeded",
    "a retrain fails": r"run (retrain|retune) failed|reaped \w+ (retrain|retune)$",
    "a run is declared dead": r"reaped ",
    "a second train is refused while one is in flight": r"model_train_enqueue refused run_in_flight",
    "a draft edit is accepted": r"draft edit accepted",
    "an edit after the first ready is refused": r"(trait_upsert|trait_delete|sample_add_batch) refused draft_only",
    "a version is activated": r"version_activate ok",
    "a model is archived": r"model_archive ok",
    "a model is restored": r"model_restore ok",
    "a model is unpinned": r"model_unpin ok",
}


@pytest.mark.django_db
def test_lifecycle_state_machine(analyst, settings):
    # Keep one untagged version besides the active one, so pruning (and activating a pruned version) happens
    # within 15 steps.
    settings.LIFECYCLE_VERSIONS_KEPT_UNTAGGED = 1
    seen = Counter()
    for number in SEEDS:
        machine = hypothesis.seed(number)(lambda: LifecycleMachine(analyst, seen))
        run_state_machine_as_test(machine, settings=MACHINE_SETTINGS)
        missing = [what for what, pattern in MUST_SEE.items() if not any(re.match(pattern, k) for k in seen)]
        if not missing:
            break
    print(f"\nseeds run: {SEEDS[:SEEDS.index(number) + 1]}")  # what the machine did, with pytest -s
    print("\n".join(f"{n:5}  {k}" for k, n in sorted(seen.items())))
    assert not missing, f"the machine never got to: {missing} (a check of this test's reach; see MUST_SEE)"


# --------------------------------------------------------------------------------------------- regressions
# Found by the machine: version_activate(tag="v1") used to resolve "v1" as version 1 before looking for the
# tag, so a tag named like a version could not be activated, and a missing tag "v1" activated version 1.


@pytest.mark.django_db
def test_activate_by_tag_uses_the_tag_not_a_version_number(analyst, capture):
    model = ready_model(analyst, capture)
    train_now(model, analyst, capture)
    assert model.active_version.version_no == 2
    services.version_tag(model=model, actor=analyst, version="v2", name="v1")  # tag "v1" -> version 2
    services.version_activate(model=model, actor=analyst, version="v1")  # roll back to version 1
    services.version_activate(model=model, actor=analyst, tag="v1")  # the tag: back to version 2
    model.refresh_from_db()
    assert model.active_version.version_no == 2, "activating tag 'v1' activated version 1"


@pytest.mark.django_db
def test_activate_by_a_missing_tag_is_not_found(analyst, capture):
    model = ready_model(analyst, capture)
    before = model.events.count()
    with pytest.raises(ApplicationError) as info:
        services.version_activate(model=model, actor=analyst, tag="v1")  # no tag "v1", but a version 1
    assert info.value.code == "not_found" and model.events.count() == before

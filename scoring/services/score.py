"""Scoring one input or a batch on a model's active version, and the feedback that becomes samples."""

from __future__ import annotations

import difflib
import math
import operator
import re
import uuid
from dataclasses import dataclass, field
from itertools import repeat
from types import NoneType

from django.conf import settings
from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.db.models.sql import InsertQuery
from django.utils import timezone

from lifecycle import selectors as lifecycle_selectors
from lifecycle.choices import SampleSource, State
from lifecycle.core import collector
from lifecycle.core.errors import ApplicationError, not_found, validation_error
from lifecycle.metrics import SCORES_SERVED
from lifecycle.model_types import CONTINUOUS_TYPES, EXTERNAL_TYPE, TABULAR_TYPES
from lifecycle.models import AlgorithmModel, ModelVersion
from lifecycle.services import ZDR_NO_FEEDBACK, sample_add_batch
from lifecycle.trainers import as_category, as_float, input_schema_from_featurizer, is_missing

from .. import cards, external, serving
from ..models import Offer, ScoreRequest


def _not_scorable(model: AlgorithmModel) -> ApplicationError:
    if model.state == State.ARCHIVED:
        why = "it is archived; restore it first"
    else:
        why = "it has never been ready; train it first (scoring starts with its first version)"
    return ApplicationError(f"Model {model.key} cannot score: {why}", code="not_scorable", status=409)


_INPUT_FIELDS = frozenset(("features", "content", "feedback"))


def _clean_input(item, index: int) -> dict:
    if type(item) is dict and item.keys() <= _INPUT_FIELDS:  # the common shape, without the messages below
        features, content = item.get("features"), item.get("content")
        if (type(features) is dict and features) or (type(content) is str and content.strip()):
            if (features is None or type(features) is dict) and (content is None or type(content) is str):
                return {"features": features or None, "content": content or None, "feedback": item.get("feedback")}
    if isinstance(item, str):
        item = {"content": item}
    if not isinstance(item, dict):
        raise validation_error(f"inputs[{index}] must be an object with features or content")
    unknown = set(item) - {"features", "content", "feedback"}
    if unknown:
        raise validation_error(f"inputs[{index}]: unknown fields {sorted(unknown)}; use features, content, feedback")
    features, content = item.get("features"), item.get("content")
    if features is not None and not isinstance(features, dict):
        raise validation_error(f"inputs[{index}].features must be an object")
    if content is not None and not isinstance(content, str):
        raise validation_error(f"inputs[{index}].content must be text")
    if not features and not (content or "").strip():
        raise validation_error(f"inputs[{index}]: give features or content")
    return {"features": features or None, "content": content or None, "feedback": item.get("feedback")}


_PLAIN_FIELDS = frozenset(("features", "content"))


def _clean_inputs(inputs: list) -> list[dict]:
    """Each input as `_clean_input` makes it. In a large batch an object of only features (an object with a value)
    and content (text or none), or of only content with text, is kept as it is and every other input is cleaned, so
    any refusal is the same; readers use .get."""
    if len(inputs) < 64:
        return [_clean_input(item, i) for i, item in enumerate(inputs)]
    if _all_plain(inputs):
        return list(inputs)
    out = list(inputs)
    for index, item in enumerate(inputs):
        if type(item) is dict and item.keys() <= _PLAIN_FIELDS:
            features, content = item.get("features"), item.get("content")
            if content is None or type(content) is str:
                if features is None and content is not None and content.strip():
                    continue
                if type(features) is dict and features:
                    continue
        out[index] = _clean_input(item, index)
    return out


def _all_plain(inputs: list) -> bool:
    """Whether every input is kept as it is by `_clean_inputs`, decided with C-speed passes over the batch: objects
    of only features and content, each with features (an object with a value) and text or no content, or each with
    no features and content with text. False only means the inputs are looked at one by one."""
    if set(map(type, inputs)) != {dict}:
        return False
    features = list(map(dict.get, inputs, repeat("features")))
    contents = list(map(dict.get, inputs, repeat("content")))
    feature_types, content_types = set(map(type, features)), set(map(type, contents))
    if feature_types == {dict}:  # each with features: an object with a value (an empty one is false)
        if not (content_types <= {str, NoneType} and all(features)):
            return False
        if content_types == {str}:  # each with both fields: no other field when each has two
            return set(map(len, inputs)) == {2}
    elif not (feature_types == {NoneType} and content_types == {str} and all(map(str.strip, contents))):
        return False
    return all(map(_PLAIN_FIELDS.issuperset, inputs))


def feedback_given(inputs: list) -> bool:
    """Whether any input of a batch carries feedback (a value that is not empty)."""
    if set(map(type, inputs)) == {dict}:
        return any(map(dict.get, inputs, repeat("feedback")))
    return any(isinstance(item, dict) and item.get("feedback") for item in inputs)


NO_KNOWN_FEATURES = "no_known_features"
OUTSIDE_SCHEMA = "input_outside_schema"  # strict scoring refused an unknown, missing or unseen input


@dataclass
class InputCheck:
    """How one input meets the version's input schema: what it named that the model does not read, what the model
    reads that it lacked (scored with the values imputed in training), categories the model never saw (scored as
    "other"), and the refusal when it cannot be scored at all."""

    unknown: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unseen: list[dict] = field(default_factory=list)
    error: ApplicationError | None = None
    # The field of each finding above, in that order: a strict refusal names the first.
    fields: list[str] = field(default_factory=list)

    def metadata(self) -> dict:
        return {"unknownFeatures": self.unknown, "missingFeatures": self.missing, "unseenCategories": self.unseen}


# The check of every input with nothing to report in a large batch: one shared object, read and never changed.
NOTHING_TO_REPORT = InputCheck()


@dataclass
class ScoreResult:
    request_id: str
    version: ModelVersion
    cards: list[dict | None]  # None where that input was refused (its check says why)
    sample_ids: list[list[int]]
    checks: list[InputCheck] = field(default_factory=list)
    inputs_checked: bool = False  # False when the version's inputs are unknown (an external endpoint)


_WANTS = {"number": "a number", "category": "a category (text or a number)", "text": "text"}


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _type_problem(entry: dict, value) -> str | None:
    if type(value) in (int, float):  # the common case, decided without the conversions below
        return None
    if isinstance(value, (dict, list)):
        return f"must be {_WANTS[entry['type']]}, not {'an object' if isinstance(value, dict) else 'a list'}"
    if entry["type"] == "number" and math.isnan(as_float(value)):
        low, high = entry.get("min"), entry.get("max")
        seen = f" ({low:g} to {high:g} in training)" if low is not None and high is not None else ""
        return f"must be a number{seen}; got {_shown(value)}"
    return None


def _normal(name: str) -> str:
    return re.sub(r"[\s_\-.]+", " ", str(name).strip().lower())


def feature_suggestions(unknown: list[str], schema: list[dict]) -> list[str]:
    """Names the input may have meant, for misspelt or differently written ones (MEAN_RADIUS for mean radius)."""
    keys = {_normal(e["key"]): e["key"] for e in schema if e["source"] == "features"}
    out = []
    for name in unknown[:20]:
        close = difflib.get_close_matches(_normal(name), list(keys), n=1, cutoff=0.75)
        if close:
            out.append(f"{keys[close[0]]} for {name}")
    return out


def _reads(schema: list[dict]) -> str:
    parts = [f"{e['name']} ({e['type']})" for e in schema[:12]]
    more = f" and {len(schema) - 12} more" if len(schema) > 12 else ""
    return ", ".join(parts) + more


def _no_known_features(schema: list[dict], unknown: list[str], prefix: str) -> ApplicationError:
    got = f"; it got {cards.names([repr(n) for n in unknown])}" if unknown else ""
    hints = feature_suggestions(unknown, schema)
    hint = f"; did you mean {', '.join(hints)}?" if hints else ""
    message = (f"{prefix}No known feature in the input, so nothing to score on: this model reads "
               f"{_reads(schema)}{got}{hint}")
    return ApplicationError(message, code=NO_KNOWN_FEATURES, status=400, details={
        "field": f"{_at(prefix)}features", "reads": [{"name": e["name"], "type": e["type"]} for e in schema],
        "unknownFeatures": unknown})


def _at(prefix: str) -> str:
    """The start of a field path inside a batch ("inputs[2]." for the prefix "inputs[2]: ")."""
    return prefix[:-2] + "." if prefix else ""


class InputChecker:
    """A version's input schema, indexed once to check every input of a call against it."""

    def __init__(self, schema: list[dict]):
        self.schema = schema
        self.features = [(e, e["key"], frozenset(e.get("categories") or ()) if e["type"] == "category" else None)
                         for e in schema if e["source"] == "features"]
        self.keys = {key for _, key, _ in self.features}
        self.unpadded = all(c and c.strip() == c for _, _, categories in self.features for c in categories or ())
        self.content = next((e for e in schema if e["source"] != "features"), None)

    def check(self, item: dict, index: int | None = None) -> InputCheck:
        """One cleaned input; `index` is its place in a batch (None: one input)."""
        prefix = f"inputs[{index}]: " if index is not None else ""
        at = _at(prefix)
        features = item.get("features") or {}
        check = InputCheck(unknown=[str(k) for k in features if k not in self.keys])
        missing, unseen, known = [], [], 0
        for entry, key, categories in self.features:
            value = features.get(key)
            if value is None or is_missing(value):
                check.missing.append(entry["name"])
                missing.append(f"{at}features.{key}")
                continue
            problem = _type_problem(entry, value)
            if problem:
                path = f"{at}features.{key}"
                check.error = validation_error(f"{prefix}{path} {problem}", field=path)
                return check
            known += 1
            if categories is not None and as_category(value) not in categories:
                check.unseen.append({"feature": entry["name"], "value": as_category(value)})
                unseen.append(f"{at}features.{key}")
        if self.content is not None:
            if (item.get("content") or "").strip():
                known += 1
            else:
                check.missing.append(self.content["name"])
                missing.append(f"{at}content")
        check.fields = [f"{at}features.{k}" for k in check.unknown] + missing + unseen
        if not known:
            check.error = _no_known_features(self.schema, check.unknown, prefix)
        return check

    def _shaped_columns(self, items: list[dict], feats: list) -> list[list] | None:
        """Each read feature's column, in the order of `features`, when every input has features of exactly the
        names the model reads (as many names, each of them there) and, where it reads content, text that is not
        blank; None otherwise."""
        if set(map(type, feats)) != {dict} or set(map(len, feats)) != {len(self.keys)}:
            return None
        if self.content is not None:
            contents = list(map(dict.get, items, repeat("content")))
            if set(map(type, contents)) != {str} or not all(map(str.strip, contents)):
                return None
        try:
            return [list(map(operator.itemgetter(key), feats)) for _, key, _ in self.features]
        except KeyError:
            return None

    def check_all(self, items: list[dict], batch: bool) -> list[InputCheck]:
        """`check` for every input, decided a column at a time: an input whose features are exactly the ones the
        model reads, each a number where a number is read and a category seen in training where one is, with
        content where content is read, has nothing to report. Any other input takes `check`, so its lists and
        refusal are the same as when checked alone."""
        if len(items) < 64:
            return [self.check(item, i if batch else None) for i, item in enumerate(items)]
        keys = self.keys
        feats = list(map(dict.get, items, repeat("features")))
        columns = self._shaped_columns(items, feats)  # the usual large batch, decided with C-speed passes
        if columns is not None:
            rows = list(range(len(items)))
        else:
            if self.content is None:
                rows = [i for i, f in enumerate(feats) if type(f) is dict and f.keys() == keys]
            else:
                rows = [i for i, f in enumerate(feats) if type(f) is dict and f.keys() == keys
                        and type(c := items[i].get("content")) is str and c.strip()]
            feats = [feats[i] for i in rows]
            columns = [[f[key] for f in feats] for _, key, _ in self.features]
        bad: set[int] = set()
        for (entry, key, categories), column in zip(self.features, columns):
            if _column_plain(column, entry["type"], categories, self.unpadded):
                continue
            if categories is not None:  # text as sent, seen in training (a number or padding takes `check`)
                if self.unpadded:  # a category seen in training has no padding, so neither has text found there
                    bad.update(j for j, v in enumerate(column) if not (type(v) is str and v in categories))
                else:
                    bad.update(j for j, v in enumerate(column) if not (type(v) is str and v and v.strip() == v
                                                                       and v in categories))
            elif entry["type"] == "number":  # an int or a float (a bool or text takes `check`), not NaN
                bad.update(j for j, v in enumerate(column) if type(v) is not float and type(v) is not int or v != v)
            else:  # text that is not blank
                bad.update(j for j, v in enumerate(column) if not (type(v) is str and v.strip()))
        if not bad and len(rows) == len(items):
            return [NOTHING_TO_REPORT] * len(items)
        plain = set(rows).difference(rows[j] for j in bad)
        return [NOTHING_TO_REPORT if i in plain else self.check(item, i if batch else None)
                for i, item in enumerate(items)]


def _column_plain(column: list, kind: str, categories: frozenset | None, unpadded: bool) -> bool:
    """Whether every value of a column passes check_all's test for its kind, decided with C-speed passes over the
    column; False only means the values are looked at one by one."""
    kinds = set(map(type, column))
    if categories is not None:
        return unpadded and kinds <= {str} and categories.issuperset(column)
    if kind == "number":  # ints and floats, none NaN: a NaN makes the sum NaN (so does inf - inf: one by one)
        return kinds <= {int, float} and (float not in kinds or sum(column) == sum(column))
    return kinds <= {str} and all(map(str.strip, column))


def _strict_refusal(check: InputCheck, index: int | None) -> ApplicationError:
    what = f"inputs[{index}]" if index is not None else "the input"
    parts = []
    if check.unknown:
        parts.append(f"unknown features {cards.names(check.unknown)} (this model does not read them)")
    if check.missing:
        parts.append(f"missing features {cards.names(check.missing)} (they would be scored with the values "
                     "imputed in training)")
    if check.unseen:
        shown = [f"{u['feature']}={u['value']!r}" for u in check.unseen]
        parts.append(f"categories never seen in training {cards.names(shown)} (they would score as 'other')")
    details = {"field": check.fields[0], **check.metadata()}
    if index is not None:
        details["index"] = index
    return ApplicationError(f"Strict scoring refused {what}: " + "; ".join(parts), code=OUTSIDE_SCHEMA,
                            status=400, details=details)


def _input_schema(model: AlgorithmModel, version: ModelVersion) -> list[dict] | None:
    """What the version reads, or None when that is unknown (an external endpoint reads what it reads)."""
    if model.model_type not in TABULAR_TYPES:
        return None
    if version.input_schema:
        return version.input_schema
    # Trained before schemas were recorded: the featurizer it serves with knows its columns.
    return input_schema_from_featurizer(serving.loaded(version, model.model_type).featurizer.state) or None


def _checker(model: AlgorithmModel, version: ModelVersion) -> InputChecker | None:
    """The version's input checker (None when what it reads is unknown), indexed once per process."""
    def build():
        schema = _input_schema(model, version)
        return InputChecker(schema) if schema else None

    return serving.derived(version, "input checker", build)


def _predict(model: AlgorithmModel, version: ModelVersion, inputs: list[dict]) -> dict[str, list[float]]:
    if model.model_type in CONTINUOUS_TYPES:
        raise ApplicationError(f"A {model.model_type} model ranks offers: use POST /api/v1/recommend",
                               code="not_scorable", status=409)
    loaded = serving.loaded(version, model.model_type)
    # The featurizer reads features and content alone; an external endpoint gets exactly those two.
    rows = inputs if model.model_type != EXTERNAL_TYPE else [
        {"features": i.get("features") or None, "content": i.get("content") or None} for i in inputs]
    if model.model_type == EXTERNAL_TYPE:
        try:
            # The secret is read from the model's config (shown masked), never from the version.
            return external.predict(loaded["params"], rows,
                                    authorization=(model.config or {}).get("authorization") or "")
        except external.EndpointError as exc:
            paused = exc.retry_after is not None
            raise ApplicationError(f"The external endpoint failed: {exc}", code="endpoint_error",
                                   status=503 if paused else 502, details={"url": loaded["params"]["url"]},
                                   headers={"Retry-After": str(exc.retry_after)} if paused else None) from None
    probs = loaded.predict_proba(rows)
    return {k: v.tolist() for k, v in probs.items()}


class _StaleModelRow(Exception):
    """The model row a score took from the process's cache changed before the score was logged."""


def model_for_score(ref) -> AlgorithmModel:
    """The model a score call answers from, by id or key. Where the score log's INSERT can check the model row in
    the same statement (PostgreSQL in autocommit, the log committed asynchronously), a row this process has read
    before answers without a query, and `score` checks it is still current in that INSERT."""
    return lifecycle_selectors.model_for_serving(ref, cached=_log_checks_row())


def _log_checks_row() -> bool:
    return (settings.SCORE_LOG_ASYNC_COMMIT and connection.vendor == "postgresql" and not connection.in_atomic_block
            and _client_side_binding())


def score(*, model: AlgorithmModel, actor, inputs: list, traits: list[str] | None = None,
          feedback: dict | None = None, strict: bool = False, batch: bool = False) -> ScoreResult:
    """Score one input or a batch on the active version (also while a retrain runs).

    Each input is checked against what the version reads. One input (not `batch`) that cannot be scored is
    refused; in a batch it gets its own error and the others are scored. `strict` refuses unknown and missing
    features and unseen categories too, and any refused input refuses the whole call.

    A model row from the process's cache (`model_for_score`) is checked by the log's INSERT, which writes nothing
    when the row has changed since it was read: the score is then answered again from the row as it is now. A
    refusal made from a cached row is made again from the current row, unless the row is unchanged. So every
    answer, and every refusal, comes from the model row as it was when the call ended, or later.

    A batch of LARGE_BATCH inputs or more is scored with the cyclic garbage collector paused."""
    args = {"actor": actor, "inputs": inputs, "traits": traits, "feedback": feedback, "strict": strict,
            "batch": batch}
    if isinstance(inputs, list) and len(inputs) >= LARGE_BATCH:
        with collector.paused():
            return _score_from(model, args)
    return _score_from(model, args)


# From this many inputs up, a call is scored with the cyclic garbage collector paused (lifecycle.core.collector).
LARGE_BATCH = 1000


def _score_from(model: AlgorithmModel, args: dict) -> ScoreResult:
    kept = getattr(model, "serving_row", None)
    if kept is None or not kept.cached:
        return _score(model=model, **args)
    inputs = args["inputs"]
    if args["feedback"] is not None or (isinstance(inputs, list) and feedback_given(inputs)):
        # Feedback becomes samples before the log is written: they are made from the current row.
        return _score(model=lifecycle_selectors.model_for_serving(kept.ref), **args)
    try:
        return _score(model=model, guard=(model.pk, kept.version), **args)
    except (_StaleModelRow, ApplicationError) as exc:
        current = lifecycle_selectors.model_for_serving(kept.ref)
        if isinstance(exc, ApplicationError) and current.serving_row.version == kept.version:
            raise
        return _score(model=current, **args)


def _score(*, model: AlgorithmModel, actor, inputs: list, traits: list[str] | None, feedback: dict | None,
           strict: bool, batch: bool, guard: tuple[int, int] | None = None) -> ScoreResult:
    if not model.is_scorable:
        raise _not_scorable(model)
    if not isinstance(inputs, list) or not inputs:
        raise validation_error("Give one input (features or content) or a non-empty inputs list")
    if len(inputs) > settings.SCORE_BATCH_MAX:
        raise ApplicationError(f"{len(inputs)} inputs in one call; at most {settings.SCORE_BATCH_MAX}",
                               code="payload_too_large", status=413)
    cleaned = _clean_inputs(inputs)
    if feedback is not None:
        if len(cleaned) != 1:
            raise validation_error("A top-level feedback map goes with one input; in a batch, give each input its "
                                   "own feedback")
        cleaned[0]["feedback"] = feedback
    # One read of the active version: the whole request is answered by it, whatever swaps meanwhile.
    # model_get brought the version along (without its artifact); otherwise read it once, also without.
    if AlgorithmModel.active_version.is_cached(model):
        version = model.active_version
    else:
        version = ModelVersion.objects.defer("artifact", "data_profile").get(pk=model.active_version_id)
    known = list(version.trait_keys) or list(learning_traits(version))
    wanted = traits or known
    missing = [t for t in wanted if t not in known]
    if missing:
        raise validation_error(f"Unknown traits {missing}; this version scores {known}", field="traits")
    checker = _checker(model, version)
    checks = checker.check_all(cleaned, batch) if checker else [InputCheck() for _ in cleaned]
    if strict or not batch:
        for i, check in enumerate(checks):
            if check.error:
                raise check.error
            if strict and check.fields:
                raise _strict_refusal(check, i if batch else None)
    plain = checks.count(NOTHING_TO_REPORT) == len(checks)  # a large batch of plain inputs: nothing to report
    scored = list(range(len(checks))) if plain else [i for i, check in enumerate(checks) if check.error is None]
    if scored:
        probs = _predict(model, version, cleaned if len(scored) == len(cleaned) else [cleaned[i] for i in scored])
    else:
        probs = {}
    missing = [NOTHING_TO_REPORT.missing] * len(scored) if plain else [checks[i].missing for i in scored]
    cards_out = cards.Cards(len(cleaned), scored, {t: probs[t] for t in wanted} if scored else {}, version.metrics,
                            missing=missing, predictors=version.predictors)
    request_id = uuid.uuid4().hex
    sample_ids = [_feedback_samples(model, actor, item, item.get("feedback"), request_id)
                  if item.get("feedback") and check.error is None else [] for item, check in zip(cleaned, checks)
                  ] if feedback_given(cleaned) else [[] for _ in cleaned]
    # Batches are not kept (feedback goes with each input); nothing is kept under zero data retention.
    keep = cleaned if len(cleaned) <= 100 and not model.zero_data_retention else []
    _log_score(ScoreRequest(
        request_id=request_id, model=model, version=version,
        inputs=[{"features": i.get("features") or None, "content": i.get("content") or None} for i in keep],
        results=[c["scores"] if c else None for c in cards_out[:100]],
        actor=actor if getattr(actor, "is_authenticated", False) else None), durable=any(sample_ids), guard=guard)
    SCORES_SERVED.inc(len(scored))
    return ScoreResult(request_id=request_id, version=version, cards=cards_out, sample_ids=sample_ids,
                       checks=checks, inputs_checked=checker is not None)


def _log_score(row: ScoreRequest, *, durable: bool, guard: tuple[int, int] | None = None) -> None:
    """Keep the score request before the answer leaves. On PostgreSQL, a plain score's own transaction commits
    without waiting for the WAL flush (SCORE_LOG_ASYNC_COMMIT, on by default): the row is committed and visible
    to feedback at once, and only a crash of the database server itself (not of a web process) can lose the last
    few hundred milliseconds of them (3 x wal_writer_delay at most). A score with feedback, or one inside a
    caller's transaction, commits as usual.

    `guard` (model id, row version) makes the INSERT write only while the model row is still at that version;
    when it is not, nothing is written and _StaleModelRow is raised."""
    if (durable or not settings.SCORE_LOG_ASYNC_COMMIT or connection.vendor != "postgresql"
            or connection.in_atomic_block):
        if guard is not None:  # this write cannot check the row: answer again from a row read now
            raise _StaleModelRow
        row.save(force_insert=True)
        return
    # One round trip: in autocommit, two statements sent together run as one implicit transaction, which the
    # SET LOCAL applies to (with client-side binding, Django's default for psycopg 3).
    fields, sql, guarded_sql = _insert_statement(row)
    params = [f.get_db_prep_save(f.pre_save(row, True), connection) for f in fields]
    if guard is not None:  # only given where the binding is on the client (_log_checks_row)
        if not _insert_checked("SET LOCAL synchronous_commit TO OFF; " + guarded_sql, [*params, *guard]):
            raise _StaleModelRow
        return
    with connection.cursor() as cursor:
        if not _client_side_binding():
            with transaction.atomic():
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
                cursor.execute(sql, params)
            return
        cursor.execute("SET LOCAL synchronous_commit TO OFF; " + sql, params)


def _insert_checked(sql: str, params: list) -> bool:
    """Run the guarded log INSERT (after its SET LOCAL); whether it wrote its row.

    When a call used a kept model row, this INSERT is its first statement, and it stands in for Django's
    per-request check of a kept connection (a SELECT 1, one more round trip): a connection that died since the
    last request fails the INSERT before it writes, and the INSERT is sent once more on a new connection. Should
    the first one have been written after all, the second meets its request id and is not written twice."""
    kept = connection.connection is not None and not connection.health_check_done
    if kept:
        connection.health_check_done = True  # this statement is the check
    for attempt in (1, 2):
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                cursor.nextset()  # from the SET's result to the INSERT's
                return cursor.rowcount == 1
        except (OperationalError, InterfaceError):
            if not kept or attempt == 2:
                raise
            connection.close()
        except IntegrityError:
            if attempt == 1:
                raise
            return True  # the first attempt was written before its connection broke
    raise AssertionError("unreachable")


_insert_sql: dict[str, tuple[list, str, str | None]] = {}


def _insert_statement(row: ScoreRequest) -> tuple[list, str, str | None]:
    """The score log's INSERT, compiled once per database: the fields in order, the SQL, and on PostgreSQL the same
    INSERT written only while the model row (id, then `xmin` as a number) is unchanged. Each call prepares its
    values as the compiler would (pre_save, then get_db_prep_save)."""
    statement = _insert_sql.get(connection.alias)
    if statement is None:
        fields = [f for f in ScoreRequest._meta.concrete_fields if not f.primary_key]
        query = InsertQuery(ScoreRequest)
        query.insert_values(fields, [row])
        [(sql, params)] = query.get_compiler(connection=connection).as_sql()
        if len(params) != len(fields):
            raise RuntimeError(f"unexpected score log INSERT: {len(params)} values for {len(fields)} fields")
        guarded = _guarded_insert(sql, fields) if connection.vendor == "postgresql" else None
        statement = _insert_sql[connection.alias] = (fields, sql, guarded)
    return statement


def _guarded_insert(sql: str, fields: list) -> str:
    """INSERT ... SELECT <the values, each cast to its column's type> FROM the model row, where it is unchanged: one
    row or none. Text is cast to text, so a value too long for its column is refused as by VALUES, never cut."""
    head, _, values = sql.partition(" VALUES (")
    placeholders = values.removesuffix(")").split(", ")
    if not values.endswith(")") or placeholders != ["%s"] * len(fields):
        raise RuntimeError(f"unexpected score log INSERT: {sql}")
    casts = ", ".join(f"CAST(%s AS {_cast_type(f)})" for f in fields)
    qn = connection.ops.quote_name
    table = qn(AlgorithmModel._meta.db_table)
    pk = qn(AlgorithmModel._meta.pk.column)
    return f"{head} SELECT {casts} FROM {table} WHERE {table}.{pk} = %s AND {table}.xmin::text::bigint = %s"


def _cast_type(f) -> str:
    return "text" if f.get_internal_type() in ("CharField", "TextField") else f.db_type(connection)


def _client_side_binding() -> bool:
    """Whether parameters are bound on the client: psycopg 3 unless OPTIONS server_side_binding is True."""
    from django.db.backends.postgresql.psycopg_any import is_psycopg3

    return is_psycopg3 and connection.settings_dict.get("OPTIONS", {}).get("server_side_binding") is not True


def learning_traits(version: ModelVersion) -> list[str]:
    return list((version.params or {}).get("traits") or [])


def _feedback_samples(model, actor, item: dict, feedback, request_id: str) -> list[int]:
    if model.state == State.ARCHIVED:
        raise _not_scorable(model)
    if model.zero_data_retention:
        raise ApplicationError(ZDR_NO_FEEDBACK, code="feature_unavailable", status=409)
    if not isinstance(feedback, dict) or not feedback:
        raise validation_error("feedback must be an object of trait -> label (\"positive\", \"negative\" or 0..1)")
    samples = [{"features": item["features"], "content": item["content"], "labels": {trait: label}}
               for trait, label in feedback.items()]
    for s in samples:
        if s["features"] is None:
            s.pop("features")
        if s["content"] is None:
            s.pop("content")
    result = sample_add_batch(model=model, actor=actor, samples=samples, source=SampleSource.FEEDBACK,
                              request_id=request_id, row_label=lambda i: f"feedback[{list(feedback)[i]}]")
    return result.ids


def feedback_by_request(*, request_id: str, actor, feedback: dict, index: int = 0) -> list[int]:
    """Labels for content scored earlier, by its request id: samples for the next retrain."""
    stored = ScoreRequest.objects.select_related("model").filter(request_id=request_id).first()
    if stored is None:
        raise not_found(f"No score request {request_id!r} (kept {settings.SCORE_REQUEST_RETENTION_DAYS} days)")
    if not 0 <= index < len(stored.inputs):
        raise validation_error(f"index must point at one of the request's {len(stored.inputs)} kept inputs")
    return _feedback_samples(stored.model, actor, stored.inputs[index], feedback, request_id)


def score_requests_prune(*, now=None) -> int:
    from datetime import timedelta

    cutoff = (now or timezone.now()) - timedelta(days=settings.SCORE_REQUEST_RETENTION_DAYS)
    deleted, _ = ScoreRequest.objects.filter(created_at__lt=cutoff).delete()
    return deleted


def offer_features(attributes: dict, offer: Offer, channel: str) -> dict:
    """What a tabular model sees for one candidate: the customer's context and the offer's own attributes."""
    features = {k: v for k, v in (attributes or {}).items() if isinstance(v, (int, float, str, bool)) or v is None}
    features["offer"] = offer.key
    features["offer_category"] = offer.category.key if offer.category_id else None
    features["channel"] = channel or None
    for name, value in (offer.attributes or {}).items():
        if isinstance(value, (int, float, str, bool)):
            features[f"offer_{name}"] = value
    return features

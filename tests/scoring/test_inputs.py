"""A model says what it reads, refuses what it cannot read, and never scores a guess with confidence."""

import pytest
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lifecycle.models import ModelVersion
from scoring import cards, serving
from scoring.models import ScoreRequest
from tests.factories import add_samples, make_model, train_now

pytestmark = pytest.mark.django_db

FULL = {"features": {"tenure": 3, "plan": "basic", "spend": 20.0}, "content": "cancel my account please"}


@pytest.fixture
def churn(analyst, capture):
    """Trained on tenure (number), plan (category), spend (number) and content (text); some labels are noise,
    so the model is good, not perfect, and 150 rows give a holdout large enough for "high" confidence."""
    model = make_model(analyst, key="churn-risk")
    add_samples(model, analyst, n=150, noise=0.1)
    train_now(model, analyst, capture, effort="low")
    return model


def url(model) -> str:
    return f"/api/v1/algorithm-models/{model.key}/score"


def error(response) -> dict:
    assert response.status_code == 400, response.content
    return response.json()["error"]


# ----------------------------------------------------------------------------------------------- the schema


def test_a_version_records_what_it_reads(api, churn):
    version = api.get(f"/api/v1/algorithm-models/{churn.key}/versions/v1").json()
    assert version["inputSchemaSource"] == "training"
    schema = {e["name"]: e for e in version["inputSchema"]}
    assert {n: e["type"] for n, e in schema.items()} == {"tenure": "number", "plan": "category",
                                                          "spend": "number", "content": "text"}
    tenure = schema["tenure"]
    assert 1 <= tenure["min"] < tenure["typical"] < tenure["max"] <= 60 and tenure["missingRate"] == 0
    assert sorted(schema["plan"]["categories"]) == ["basic", "plus", "pro"]
    assert schema["plan"]["moreCategories"] is False and schema["plan"]["typical"] in {"basic", "plus", "pro"}
    assert schema["content"]["source"] == "content" and schema["content"]["typicalWords"] == 3


def test_a_version_trained_before_schemas_says_what_its_artifact_tells(api, churn):
    ModelVersion.objects.filter(model=churn).update(input_schema=[])
    version = api.get(f"/api/v1/algorithm-models/{churn.key}/versions/v1").json()
    assert version["inputSchemaSource"] == "artifact"
    schema = {e["name"]: e for e in version["inputSchema"]}
    assert schema["tenure"]["type"] == "number" and schema["tenure"]["min"] is None
    assert schema["tenure"]["missingRate"] is None and schema["tenure"]["typical"] is not None
    assert sorted(schema["plan"]["categories"]) == ["basic", "plus", "pro"]
    # The score checks still work for it, from the featurizer it serves with.
    serving.clear()
    assert error(api.post(url(churn), {"features": {"nothing": "at all"}}, format="json"))["code"] == \
        "no_known_features"
    body = api.post(url(churn), {"features": {"tenure": 3, "colour": "red"}}, format="json").json()
    assert body["metadata"]["unknownFeatures"] == ["colour"]
    assert body["metadata"]["missingFeatures"] == ["plan", "spend", "content"]


def test_a_pruned_version_without_a_schema_is_unknown(api, churn):
    ModelVersion.objects.filter(model=churn).update(input_schema=[], artifact=None)
    version = api.get(f"/api/v1/algorithm-models/{churn.key}/versions/v1").json()
    assert version["inputSchemaSource"] == "unknown" and version["inputSchema"] == []


def test_the_versions_page_shows_the_inputs_of_the_serving_version(as_analyst, churn):
    page = as_analyst.get(reverse("lifecycle:version-list", args=[churn.key])).content.decode()
    assert "Inputs of v1" in page
    assert "<code>plan</code></th><td>category</td><td class=\"inputs-seen\">" in page
    assert "<code>content</code></th><td>text</td><td class=\"inputs-seen\">free text</td><td>3 words</td>" in page


# ----------------------------------------------------------------------------------------------- the checks


def test_confidence_drops_by_the_importance_the_missing_features_carried():
    metrics = {"a": {"auc": 0.9, "sampleCount": 500, "evaluation": "holdout",
                     "breaks": {"developing": 30, "solid": 50, "strong": 80}}}
    predictors = [{"name": "x", "importance": 0.6, "trait": "a"}, {"name": "y", "importance": 0.3, "trait": "a"},
                  {"name": "z", "importance": 0.1, "trait": "a"}, {"name": "x", "importance": 1.0, "trait": "b"}]
    full = cards.card({"a": 0.9}, metrics, missing=[], predictors=predictors)
    assert full["confidence"] == "high" and "confidenceReason" not in full
    minor = cards.card({"a": 0.9}, metrics, missing=["z"], predictors=predictors)
    assert minor["confidence"] == "moderate" and minor["detail"]["a"]["missingImportance"] == 0.1
    major = cards.card({"a": 0.9}, metrics, missing=["x"], predictors=predictors)
    assert major["confidence"] == "low" and major["detail"]["a"]["label"] == "Strong"  # the tier stays
    unknown = cards.card({"a": 0.9}, metrics, missing=["w"], predictors=predictors)
    assert unknown["confidence"] == "high"  # a name the model never weighed takes nothing away
    flat = [{"name": n, "importance": 0.0, "trait": "a"} for n in ("x", "y")]
    assert cards.card({"a": 0.9}, metrics, missing=["x"], predictors=flat)["confidence"] == "low"



def test_nothing_the_model_reads_is_refused_naming_what_it_reads(api, churn):
    body = error(api.post(url(churn), {"features": {"nothing": "at all"}}, format="json"))
    assert body["code"] == "no_known_features" and body["details"]["field"] == "features"
    assert "this model reads plan (category), spend (number), tenure (number), content (text)" in body["message"]
    assert [r["name"] for r in body["details"]["reads"]] == ["plan", "spend", "tenure", "content"]
    misspelt = error(api.post(url(churn), {"features": {"TENUR": 3, "colour": "red"}}, format="json"))
    assert "did you mean tenure for TENUR?" in misspelt["message"]
    assert misspelt["details"]["unknownFeatures"] == ["TENUR", "colour"]
    nulls = error(api.post(url(churn), {"features": {"tenure": None, "plan": ""}}, format="json"))
    assert nulls["code"] == "no_known_features"
    assert ScoreRequest.objects.count() == 0


def test_unknown_names_are_scored_without_and_listed(api, churn):
    plain = api.post(url(churn), FULL, format="json").json()
    extra = api.post(url(churn), {**FULL, "features": {**FULL["features"], "colour": "red", "tenur": 4}},
                     format="json").json()
    assert extra["scores"] == plain["scores"]
    assert extra["metadata"]["unknownFeatures"] == ["colour", "tenur"]
    assert extra["metadata"]["missingFeatures"] == [] and extra["metadata"]["unseenCategories"] == []
    assert plain["metadata"]["inputsChecked"] is True and plain["confidence"] == "high"


def test_missing_features_are_imputed_as_in_training_and_lower_confidence(api, churn):
    schema = {e["name"]: e for e in ModelVersion.objects.get(model=churn).input_schema}
    without = api.post(url(churn), {"features": {"tenure": 3, "plan": "basic"}, "content": FULL["content"]},
                       format="json").json()
    imputed = api.post(url(churn), {"features": {"tenure": 3, "plan": "basic", "spend": schema["spend"]["typical"]},
                                    "content": FULL["content"]}, format="json").json()
    assert without["metadata"]["missingFeatures"] == ["spend"]
    assert without["detail"]["churn"]["native"] == imputed["detail"]["churn"]["native"]

    # The text carries most of what this model learnt: without it, confidence is low and the card says why.
    no_text = api.post(url(churn), {"features": FULL["features"]}, format="json").json()
    assert no_text["metadata"]["missingFeatures"] == ["content"]
    share = no_text["detail"]["churn"]["missingImportance"]
    assert share >= cards.MISSING_LOW and no_text["confidence"] == "low"
    assert no_text["detail"]["churn"]["confidenceReason"] == (
        f"high lowered to low: the missing features carried {round(100 * share)}% of churn's importance in "
        "training; imputed values stand in for them")
    assert no_text["confidenceReason"] == (f"Lowered for the missing content, scored with the values imputed in "
                                           f"training: churn high to low ({round(100 * share)}% of its importance).")
    # A text/plain body is content alone: the features are missing.
    plain = api.post(url(churn), FULL["content"], content_type="text/plain").json()
    assert plain["metadata"]["missingFeatures"] == ["plan", "spend", "tenure"]


def test_a_word_for_a_number_is_refused_naming_the_field(api, churn):
    body = error(api.post(url(churn), {**FULL, "features": {**FULL["features"], "tenure": "seventeen"}},
                          format="json"))
    assert body["code"] == "validation_error" and body["details"]["field"] == "features.tenure"
    assert "features.tenure must be a number" in body["message"] and "'seventeen'" in body["message"]
    nested = error(api.post(url(churn), {**FULL, "features": {**FULL["features"], "plan": ["basic"]}},
                            format="json"))
    assert nested["details"]["field"] == "features.plan" and "not a list" in nested["message"]
    # A number written as text is a number.
    assert api.post(url(churn), {**FULL, "features": {**FULL["features"], "tenure": " 3 "}},
                    format="json").status_code == 200
    assert ScoreRequest.objects.count() == 1


def test_a_category_never_seen_is_scored_as_other_and_listed(api, churn):
    body = api.post(url(churn), {**FULL, "features": {**FULL["features"], "plan": "gold"}}, format="json").json()
    assert body["metadata"]["unseenCategories"] == [{"feature": "plan", "value": "gold"}]
    assert 0 <= body["scores"]["churn"] <= 100


def test_strict_refuses_unknown_missing_and_unseen(api, churn):
    strict = {"strict": True}
    assert api.post(url(churn), {**FULL, **strict}, format="json").status_code == 200
    unknown = error(api.post(url(churn), {**FULL, **strict, "features": {**FULL["features"], "colour": "red"}},
                             format="json"))
    assert unknown["code"] == "input_outside_schema" and unknown["details"]["field"] == "features.colour"
    assert "unknown features colour" in unknown["message"]
    missing = error(api.post(url(churn), {"features": FULL["features"], **strict}, format="json"))
    assert missing["details"]["field"] == "content" and missing["details"]["missingFeatures"] == ["content"]
    unseen = error(api.post(url(churn), {**FULL, **strict, "features": {**FULL["features"], "plan": "gold"}},
                            format="json"))
    assert unseen["details"]["field"] == "features.plan" and "plan='gold'" in unseen["message"]
    # The text/plain body says strict in the query.
    plain = error(api.post(url(churn) + "?strict=true", FULL["content"], content_type="text/plain"))
    assert plain["code"] == "input_outside_schema"
    odd = error(api.post(url(churn) + "?strict=perhaps", FULL["content"], content_type="text/plain"))
    assert odd["details"]["field"] == "strict"
    assert ScoreRequest.objects.count() == 1


def test_a_batch_scores_each_input_on_its_own(api, churn):
    inputs = [FULL,
              {"features": {**FULL["features"], "tenure": "seventeen"}},
              {"features": {"nothing": "at all"}},
              {**FULL, "features": {**FULL["features"], "colour": "red", "plan": "gold"}}]
    r = api.post(url(churn), {"inputs": inputs}, format="json")
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["metadata"]["count"] == 4 and body["metadata"]["refused"] == 2
    good, wrong, nothing, odd = body["results"]
    assert good["scores"]["churn"] == api.post(url(churn), FULL, format="json").json()["scores"]["churn"]
    assert wrong["error"]["code"] == "validation_error" and "scores" not in wrong
    assert wrong["error"]["details"]["field"] == "inputs[1].features.tenure"
    assert nothing["error"]["code"] == "no_known_features" and nothing["error"]["details"]["field"] == \
        "inputs[2].features"
    assert odd["metadata"]["unknownFeatures"] == ["colour"]
    assert odd["metadata"]["unseenCategories"] == [{"feature": "plan", "value": "gold"}]
    assert good["metadata"]["unknownFeatures"] == [] and good["metadata"]["requestId"] == body["metadata"]["requestId"]

    strict = error(api.post(url(churn), {"inputs": inputs, "strict": True}, format="json"))
    assert strict["details"]["field"] == "inputs[1].features.tenure" and strict["message"].startswith("inputs[1]")
    unknown_only = error(api.post(url(churn), {"inputs": [FULL, inputs[3]], "strict": True}, format="json"))
    assert unknown_only["details"]["index"] == 1 and unknown_only["details"]["field"] == "inputs[1].features.colour"


def test_a_large_batch_answers_each_input_as_it_would_alone(api, churn):
    """Large batches are checked a column at a time and carded a trait at a time: the answers stay those of
    the inputs sent one by one (lists, refusals and cards), whatever mix of odd inputs they hold."""
    odd = [{"features": {**FULL["features"], "tenure": "seventeen"}},
           {"features": {"nothing": "at all"}},
           {**FULL, "features": {**FULL["features"], "colour": "red", "plan": "gold"}},
           {"features": {"tenure": 3, "plan": "basic"}, "content": "cancel"},
           {"features": {**FULL["features"], "plan": " basic "}},
           {"features": {**FULL["features"], "tenure": True}, "content": "   "},
           {"features": {**FULL["features"], "spend": "12.5"}, "content": "x"},
           {"features": {**FULL["features"], "plan": 7}, "content": "keep me"}]
    inputs = [{"features": {**FULL["features"], "tenure": t % 40, "spend": 5.5 * (t % 9)},
               "content": ["cancel my account please", "love it", "price too high"][t % 3]} for t in range(80)]
    for k, item in enumerate(odd):
        inputs.insert(7 * k + 3, item)
    body = api.post(url(churn), {"inputs": inputs}, format="json").json()
    assert body["metadata"]["count"] == len(inputs)
    for i in (0, 1, 2, *range(3, 7 * len(odd), 7), len(inputs) - 1):
        alone = api.post(url(churn), {"inputs": [inputs[i]]}, format="json").json()["results"][0]
        got = body["results"][i]
        for part in (alone, got):
            part["metadata"].pop("requestId")
            if "error" in part:
                part["error"]["message"] = part["error"]["message"].replace(f"inputs[{i}]", "inputs[0]")
                part["error"]["details"] = {k: v.replace(f"inputs[{i}]", "inputs[0]") if isinstance(v, str) else v
                                            for k, v in part["error"]["details"].items()}
        if "error" in alone:
            alone["error"]["details"].pop("index", None), got["error"]["details"].pop("index", None)
        assert got == alone, i


def test_a_refused_input_in_a_batch_records_no_feedback(api, churn):
    inputs = [{**FULL, "feedback": {"churn": "positive"}},
              {"features": {"nothing": 1}, "feedback": {"churn": "negative"}}]
    body = api.post(url(churn), {"inputs": inputs}, format="json").json()
    assert len(body["results"][0]["metadata"]["sampleIds"]) == 1
    assert body["results"][1]["metadata"]["sampleIds"] == []


# Any JSON value a caller might put in a feature.
VALUES = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                   st.floats(allow_nan=False, allow_infinity=False, width=32), st.text(max_size=12),
                   st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=1))
NAMES = st.one_of(st.sampled_from(["tenure", "plan", "spend", "content", "TENURE", "colour"]), st.text(max_size=8))
INPUTS = st.fixed_dictionaries({"features": st.dictionaries(NAMES, VALUES, max_size=4)},
                               optional={"content": st.text(max_size=30), "strict": st.booleans()})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=INPUTS)
def test_no_input_gives_a_server_error_or_high_confidence_without_a_known_feature(api, churn, body):
    r = api.post(url(churn), body, format="json")
    assert r.status_code < 500, r.content
    features = body["features"]
    known = any(k in {"tenure", "plan", "spend"} and v is not None and not (isinstance(v, str) and not v.strip())
                for k, v in features.items()) or bool(body.get("content", "").strip())
    if r.status_code == 200:
        assert known, body
        card = r.json()
        assert card["confidence"] != "high" or not card["metadata"]["missingFeatures"] or \
            card["detail"]["churn"]["missingImportance"] < cards.MISSING_STEP_DOWN
    else:
        assert r.json()["error"]["status"] == r.status_code
        if not known:
            assert r.json()["error"]["code"] in {"no_known_features", "validation_error"}


# ----------------------------------------------------------------------------------------------- try a score


def try_url(model) -> str:
    return reverse("scoring:model-try", args=[model.key])


def field_names(page: str) -> dict[str, str]:
    """Each feature field's name by its label's text."""
    import re

    return dict(re.findall(r'<label for="id_(feature_\d+)">([^<]+?) <span class="feature-type">', page))


def test_try_a_score_is_a_form_built_from_the_schema(as_analyst, churn):
    page = as_analyst.get(try_url(churn)).content.decode()
    fields = {label: name for name, label in field_names(page).items()}
    assert set(fields) == {"plan", "spend", "tenure"}
    tenure = ModelVersion.objects.get(model=churn).input_schema[2]
    assert f'name="{fields["tenure"]}"' in page and f'placeholder="{tenure["typical"]:.6g}"' in page
    assert 'inputmode="decimal"' in page and f'list="{fields["plan"]}-categories"' in page
    assert '<option value="basic">' in page
    plan = ModelVersion.objects.get(model=churn).input_schema[0]
    assert "1 to 60 in training</small>" in page and f"{', '.join(plan['categories'])}</small>" in page
    assert 'name="features"' in page and "Features (JSON object)" in page  # the box for scripts stays

    scored = as_analyst.post(try_url(churn), {fields["tenure"]: "3", fields["plan"]: "gold",
                                              "features": '{"colour": "red"}'}).content.decode()
    assert "Score card" in scored and 'class="input-warnings"' in scored
    assert "Not read by this model:</strong> <code>colour</code>" in scored
    assert "Missing:</strong> <code>spend</code>, <code>content</code>" in scored
    assert "Never seen in training:</strong> <code>plan = gold</code>" in scored
    assert "Lowered for the missing spend, content, scored with the values imputed in training: churn" in scored

    refused = as_analyst.post(try_url(churn), {fields["tenure"]: "seventeen"}, HTTP_HX_REQUEST="true")
    text = refused.content.decode()
    assert "<html" not in text
    assert ("features.tenure must be a number (1 to 60 in training); got &#x27;seventeen&#x27;</small>" in text)
    assert "Refused:" in text and "Score card" in text and "composite" not in text

    nothing = as_analyst.post(try_url(churn), {"features": '{"nothing": "at all"}'}).content.decode()
    assert "Refused:" in nothing and "No known feature in the input" in nothing


@pytest.mark.parametrize("odd", [
    None,  # every input plain: each column is passed whole
    {"features": {**FULL["features"], "plan": " basic"}},  # padding
    {"features": {**FULL["features"], "plan": "gold"}},  # unseen
    {"features": {**FULL["features"], "plan": 3}},  # a number where a category is read
    {"features": {**FULL["features"], "tenure": True}},  # a bool is no number
    {"features": {**FULL["features"], "tenure": float("nan")}},  # from a caller in-process, not from JSON
    {"features": {**FULL["features"], "spend": float("inf")}},
    {"features": {**FULL["features"], "spend": "12"}},
    {"features": {**FULL["features"]}, "content": "   "},  # blank content
    {"features": {**FULL["features"]}},  # no content
    {"features": {**FULL["features"], "colour": "red"}},  # a name the model does not read
    {**FULL, "features": {**FULL["features"], "colour": "red"}},  # the same, with content
    {**FULL, "features": {"tenure": 3, "plan": "basic", "colour": "red"}},  # as many names, one not read
    {"features": {"tenure": 3, "plan": "basic"}, "content": "x"},  # one missing
], ids=lambda odd: "plain" if odd is None else repr(odd)[:40])
def test_a_large_batch_is_checked_as_each_input_alone(churn, odd):
    """check_all passes whole columns where it can; each input's findings and refusal stay those of `check`."""
    from scoring.services.score import _checker

    version = ModelVersion.objects.get(pk=churn.active_version_id)
    checker = _checker(churn, version)
    items = [{"features": {**FULL["features"], "tenure": t % 40, "spend": 5.5 * (t % 9)},
              "content": ["cancel my account please", "love it"][t % 2]} for t in range(100)]
    if odd is not None:
        items.insert(50, odd)

    def seen(check):
        return (check.unknown, check.missing, check.unseen, check.fields,
                check.error.as_dict() if check.error else None)

    assert [seen(c) for c in checker.check_all(items, True)] == [seen(checker.check(item, i))
                                                                  for i, item in enumerate(items)]


# Inputs of every shape a caller might send in a batch: the usual objects, odd ones, and no objects at all.
FEATURES = st.one_of(st.none(), st.just({}), st.just({"tenure": 3}), st.just([1]), st.just("tenure"))
CONTENTS = st.one_of(st.none(), st.just(""), st.just("  "), st.just("cancel my account"), st.just(7))
ITEMS = st.one_of(
    st.fixed_dictionaries({}, optional={"features": FEATURES, "content": CONTENTS,
                                        "feedback": st.sampled_from([None, {}, {"churn": "positive"}]),
                                        "colour": st.just("red")}),
    st.sampled_from(["cancel my account", "", None, 3, ["x"]]))


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_a_large_batch_is_cleaned_and_its_feedback_found_as_each_input_alone(data):
    """_clean_inputs decides a batch of plain inputs with whole passes; each input reads, and any refusal names,
    what `_clean_input` makes of it alone, and feedback_given finds feedback where any input has it."""
    from lifecycle.core.errors import ApplicationError
    from scoring.services import feedback_given
    from scoring.services.score import _clean_input, _clean_inputs

    if data.draw(st.booleans(), label="all alike"):
        items = [data.draw(ITEMS, label="item")] * 70
    else:
        items = [dict(FULL) if i % 3 else {"features": dict(FULL["features"])} for i in range(70)]
        for odd in data.draw(st.lists(ITEMS, max_size=3), label="odd"):
            items.insert(data.draw(st.integers(0, len(items)), label="at"), odd)

    def read(item):
        return {k: item.get(k) or None for k in ("features", "content", "feedback")}

    def each():
        return [read(_clean_input(item, i)) for i, item in enumerate(items)]

    try:
        expected = each()
    except ApplicationError as exc:
        with pytest.raises(ApplicationError) as refused:
            _clean_inputs(items)
        assert refused.value.as_dict() == exc.as_dict()
    else:
        assert [read(item) for item in _clean_inputs(items)] == expected
    assert feedback_given(items) == any(isinstance(i, dict) and bool(i.get("feedback")) for i in items)

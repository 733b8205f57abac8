"""One key rule for everything that names a page: model keys, families, tags, experiment and catalog keys.

Refused the same way by the API, the page forms and the services; declared in the schema; and a name saved
before the rule (or behind its back) is shown as text on every page, never a 500."""

from urllib.parse import quote

import pytest
from drf_spectacular.generators import SchemaGenerator

from lifecycle.models import AlgorithmModel, ModelEvent
from registry import services as registry_services
from tests.conftest import token_client
from tests.factories import make_model, ready_model

pytestmark = pytest.mark.django_db

API = "/api/v1"
BAD_FAMILY = 'a/b?c#d"<i>'


def refused(response, field: str):
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "validation_error" and field in error["message"], error
    return error


@pytest.fixture
def admin_api(admin_user):
    return token_client(admin_user)


@pytest.fixture
def serving(admin_user, capture):
    model = ready_model(admin_user, capture, key="churn-risk")
    registry_services.model_set_status(model=model, actor=admin_user, status="active")
    return model


def test_promote_refuses_a_family_that_cannot_name_a_page(admin_api, serving):
    before = ModelEvent.objects.count()
    for family in ("a/b?c#d", "Credit Propensity", "-edge", "f" * 65, "fam."):
        refused(admin_api.post(f"{API}/algorithm-models/churn-risk/promote", {"toStatus": "challenger",
                                                                             "family": family}, format="json"),
                "family")
    serving.refresh_from_db()
    assert serving.family == "" and serving.registry_status == "draft"
    assert ModelEvent.objects.count() == before
    # The seeds' forms pass: "credit_propensity", "churn-gbm-walk", 64 characters.
    for family, rung in (("credit_propensity", "shadow"), ("churn-gbm-walk", "challenger"), ("f" * 64, "shadow")):
        response = admin_api.post(f"{API}/algorithm-models/churn-risk/promote",
                                  {"toStatus": rung, "family": family}, format="json")
        assert response.status_code == 200, response.content
        assert response.json()["model"]["family"] == family


@pytest.mark.parametrize(("url", "body", "field"), [
    ("/algorithm-models", {"key": "Churn", "name": "C", "modelType": "scorecard"}, "key"),
    ("/algorithm-models", {"key": "churn-", "name": "C", "modelType": "scorecard"}, "key"),
    ("/algorithm-models", {"key": "12", "name": "C", "modelType": "scorecard"}, "key"),
    ("/algorithm-models", {"key": "k" * 256, "name": "C", "modelType": "scorecard"}, "key"),
    ("/offers", {"key": "k" * 65, "name": "O"}, "key"),
    ("/offers", {"key": "gold card", "name": "O"}, "key"),
    ("/categories", {"key": "k" * 65, "name": "C"}, "key"),
    ("/channels", {"key": "E/mail", "name": "E"}, "key"),
    ("/outcome-types", {"key": "k" * 65, "name": "T", "classification": "positive"}, "key"),
    ("/decision-flows", {"key": "flow", "name": "F", "family": "a/b"}, "family"),
    ("/decision-flows", {"key": "Flow", "name": "F"}, "key"),
    ("/experiments", {"key": "k" * 65, "name": "E"}, "key"),
    ("/experiments", {"key": "exp", "name": "E", "family": "a b"}, "family"),
])
def test_every_key_in_a_body_follows_the_rule_and_nothing_is_written(admin_api, url, body, field):
    before = ModelEvent.objects.count()
    refused(admin_api.post(API + url, body, format="json"), field)
    assert ModelEvent.objects.count() == before


def test_tags_follow_the_rule(admin_api, serving):
    url = f"{API}/algorithm-models/churn-risk/versions/v1/tags"
    for name in ("Prod", "t" * 65, "a/b", "1st"):
        refused(admin_api.post(url, {"name": name}, format="json"), "name" if name != "1st" else "letter")
    assert admin_api.post(url, {"name": "v1-baseline"}, format="json").status_code == 200


def test_the_schema_declares_the_pattern_and_the_longest_key(admin_user):
    components = SchemaGenerator().get_schema(request=None, public=True)["components"]["schemas"]
    expected = {("AlgorithmModelCreateRequest", "key"): 255, ("PromoteInputRequest", "family"): 64,
                ("TagInputRequest", "name"): 64, ("ExperimentInputRequest", "key"): 64,
                ("ExperimentInputRequest", "family"): 64, ("OfferRequest", "key"): 64,
                ("CategoryRequest", "key"): 64, ("ChannelRequest", "key"): 64, ("OutcomeTypeRequest", "key"): 64,
                ("DecisionFlowRequest", "key"): 64, ("DecisionFlowRequest", "family"): 64}
    for (component, field), longest in expected.items():
        name = component if component in components else component.replace("AlgorithmModelCreate", "ModelCreate")
        prop = components[name]["properties"][field]
        prop = prop["oneOf"][0] if "oneOf" in prop else prop  # a blank family is allowed: "" or a key
        assert prop["maxLength"] == longest, (component, field, prop)
        assert prop["pattern"].startswith("^[a-z0-9]"), (component, field, prop)


def test_page_forms_refuse_what_the_api_refuses(client, admin_user, serving):
    client.force_login(admin_user)
    response = client.post("/models/new/", {"key": "Churn Two", "name": "C", "model_type": "scorecard"})
    assert response.status_code in (200, 400) and not AlgorithmModel.objects.filter(name="C").exists()
    assert "lowercase letters" in response.content.decode()
    client.post("/models/churn-risk/promote/", {"to_status": "challenger", "family": "a/b?c#d"})
    serving.refresh_from_db()
    assert serving.family == "" and serving.registry_status == "draft"
    response = client.post("/catalog/offers/new/", {"key": "Gold Card", "name": "Gold"})
    assert response.status_code in (200, 400) and "lowercase letters" in response.content.decode()


def test_a_stored_family_that_breaks_the_rule_is_shown_as_text(client, admin_user, capture):
    """Saved behind the rule's back: every page that names it still answers, with the name escaped."""
    client.force_login(admin_user)
    model = make_model(admin_user, key="odd-one")
    AlgorithmModel.objects.filter(pk=model.pk).update(family=BAD_FAMILY)
    ModelEvent.objects.create(model=model, model_key=model.key, family=BAD_FAMILY, actor_name="admin",
                              action="registry.moved", from_value="draft", to_value="challenger")
    for page in ("/", "/families/", "/models/odd-one/", "/audit/", f"/audit/?family={quote(BAD_FAMILY)}"):
        response = client.get(page)
        assert response.status_code == 200, (page, response.status_code)
        html = response.content.decode()
        assert "a/b?c#d&quot;&lt;i&gt;" in html, page
        assert BAD_FAMILY not in html, page
    assert client.get("/families/a/").status_code == 404

"""Every URL in the URL conf, walked with anonymous, viewer, analyst, reviewer and admin.

Each (URL name, method) has an expected outcome per role; a new URL without an expectation fails the
test, so no page or endpoint ships without a decision about who may use it. Outcomes are classes, not
exact codes: "ok" (the permission layer let it through: 2xx, 3xx or a 4xx that is not 401/403),
"login" (a page's redirect to the login form), "401", "403", "405". Each call runs in a transaction that
is rolled back, so destructive calls do not change the world for the next one.

To print the observed matrix (when adding URLs): PRINT_MATRIX=1 pytest tests/test_permission_matrix.py -s
"""

import os
import re

import pytest
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from lifecycle import services
from registry import services as registry_services
from scoring import services as scoring_services
from tests.factories import add_samples, make_model, make_user
from tests.scoring.conftest import live_model, make_catalog

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _metrics_on(settings):
    # /metrics answers its own bearer token only, never a login or an API token (off, 404, without one).
    settings.METRICS_TOKEN = "matrix-metrics-token"


ROLES = ("anonymous", "viewer", "analyst", "reviewer", "admin")

# Who may: the classes per role, in ROLES order.
PUBLIC = "ok ok ok ok ok"
PAGE_READ = "login ok ok ok ok"
PAGE_ANALYST = "login 403 ok 403 ok"
PAGE_REVIEWER = "login 403 403 ok ok"
API_READ = "401 ok ok ok ok"
API_ANALYST = "401 403 ok 403 ok"
API_REVIEWER = "401 403 403 ok ok"
API_AUTHOR = "401 403 ok 403 ok"  # the service lets the author (our analyst) and admins cancel
PAGE_AUTHOR = "login 403 ok 403 ok"
API_ADMIN = "401 403 403 403 ok"
API_VERSION_CHOICE = "401 403 ok ok ok"  # analysts ask (a request on a governed champion), reviewers apply
PAGE_VERSION_CHOICE = "login 403 ok ok ok"
PAGE_ADMIN = "login 403 403 403 ok"

CATALOG_KINDS = ("offer", "category", "channel", "outcome-type", "decision-flow", "suppression-rule", "contact-policy",
                 "creative")

EXPECTED: dict[tuple[str, str], str] = {
    ("healthz", "GET"): PUBLIC,
    ("metrics", "GET"): "401 401 401 401 401",
    ("login", "GET"): PUBLIC,
    ("logout", "POST"): "login login login login login",  # back to the login form, whoever you were
    ("schema", "GET"): API_READ,
    ("api-docs", "GET"): API_READ,
    # lifecycle API
    ("algorithm-model-list", "GET"): API_READ,
    ("algorithm-model-list", "POST"): API_ANALYST,
    ("algorithm-model-detail", "GET"): API_READ,
    ("algorithm-model-detail", "PUT"): API_ANALYST,
    ("algorithm-model-detail", "PATCH"): API_ANALYST,
    ("algorithm-model-detail", "DELETE"): API_ANALYST,
    ("algorithm-model-activate-version", "PUT"): API_VERSION_CHOICE,
    ("algorithm-model-archive", "POST"): API_ANALYST,
    ("algorithm-model-discover", "POST"): API_ANALYST,
    ("algorithm-model-events", "GET"): API_READ,
    ("algorithm-model-restore", "POST"): API_ANALYST,
    ("algorithm-model-rollback", "POST"): API_VERSION_CHOICE,
    ("algorithm-model-run-detail", "GET"): API_READ,
    ("algorithm-model-runs", "GET"): API_READ,
    ("algorithm-model-samples", "GET"): API_READ,
    ("algorithm-model-samples", "POST"): API_ANALYST,
    ("algorithm-model-sample-delete", "DELETE"): API_ANALYST,
    ("algorithm-model-samples-delete", "POST"): API_ANALYST,
    ("algorithm-model-tag", "POST"): API_ANALYST,
    ("algorithm-model-train", "POST"): API_ANALYST,
    ("algorithm-model-trait-delete", "DELETE"): API_ANALYST,
    ("algorithm-model-traits", "GET"): API_READ,
    ("algorithm-model-traits", "POST"): API_ANALYST,
    ("algorithm-model-unpin", "POST"): API_ANALYST,
    ("algorithm-model-untag", "DELETE"): API_ANALYST,
    ("algorithm-model-version-untag", "DELETE"): API_ANALYST,
    ("algorithm-model-upload", "POST"): API_ANALYST,
    ("algorithm-model-version-detail", "GET"): API_READ,
    ("algorithm-model-version-detail", "PATCH"): API_ANALYST,
    ("algorithm-model-version-card", "GET"): API_READ,
    ("algorithm-model-versions", "GET"): API_READ,
    ("audit-log-list", "GET"): API_READ,
    ("audit-log-export", "GET"): API_READ,
    # webhooks: admins only, reads included (receiver URLs and payloads)
    ("webhook-list", "GET"): API_ADMIN,
    ("webhook-list", "POST"): API_ADMIN,
    ("webhook-detail", "GET"): API_ADMIN,
    ("webhook-detail", "PUT"): API_ADMIN,
    ("webhook-detail", "DELETE"): API_ADMIN,
    ("webhook-deliveries", "GET"): API_ADMIN,
    ("webhook-test", "POST"): API_ADMIN,
    # registry API
    ("model-promote", "POST"): API_ANALYST,
    ("family-detail", "GET"): API_READ,
    ("family-detail", "PUT"): API_REVIEWER,
    ("family-rollback", "POST"): API_REVIEWER,
    ("promotion-request-list", "GET"): API_READ,
    ("promotion-request-detail", "GET"): API_READ,
    ("promotion-request-approve", "POST"): API_REVIEWER,
    ("promotion-request-reject", "POST"): API_REVIEWER,
    ("promotion-request-cancel", "POST"): API_AUTHOR,
    ("experiment-list", "GET"): API_READ,
    ("experiment-list", "POST"): API_ANALYST,
    ("experiment-list", "DELETE"): API_ANALYST,
    ("experiment-detail", "GET"): API_READ,
    ("experiment-detail", "PUT"): API_ANALYST,
    ("experiment-detail", "PATCH"): API_ANALYST,
    ("experiment-detail", "DELETE"): API_ANALYST,
    ("experiment-assign", "POST"): API_READ,
    ("experiment-results", "GET"): API_READ,
    # scoring API
    ("model-score", "POST"): API_READ,
    ("model-adaptations", "GET"): API_READ,
    ("model-reset-learning", "POST"): API_ANALYST,
    ("score-feedback", "POST"): API_ANALYST,
    ("recommend", "POST"): API_READ,
    ("respond", "POST"): API_ANALYST,
    ("decision-trace-list", "GET"): API_READ,
    ("decision-trace-detail", "GET"): API_READ,
    **{(f"{kind}-list", "GET"): API_READ for kind in CATALOG_KINDS},
    **{(f"{kind}-list", "POST"): API_ANALYST
       for kind in CATALOG_KINDS},
    **{(f"{kind}-detail", "GET"): API_READ
       for kind in CATALOG_KINDS},
    **{(f"{kind}-detail", method): API_ANALYST for kind in CATALOG_KINDS for method in ("PUT", "PATCH", "DELETE")},
}

# Pages: GET for everyone who is logged in; writes by the role that owns them. Filled in below from the
# page URL names so the table stays readable.
PAGE_GETS = [
    "lifecycle:home", "lifecycle:home-runs", "lifecycle:tokens", "lifecycle:model-list",
    "lifecycle:model-detail", "lifecycle:version-compare", "lifecycle:model-progress",
    "lifecycle:run-list", "lifecycle:version-list", "lifecycle:sample-list",
    "registry:model-guard", "registry:review-queue", "registry:review-count", "registry:request-detail",
    "registry:family-list", "registry:family-detail", "registry:audit-log", "registry:audit-export",
    "scoring:model-weights", "scoring:model-weights-preview", "lifecycle:model-cadence", "scoring:model-try",
    "scoring:model-adaptations", "scoring:trace-list", "scoring:trace-detail", "scoring:catalog",
    "registry:changes", "scoring:model-shadow", "registry:experiment-detail",
    "lifecycle:version-detail", "lifecycle:version-card", "lifecycle:run-detail", "registry:family-compare",
]
PAGE_ANALYST_GETS = ["lifecycle:model-create", "lifecycle:version-artifact"]
# Catalog forms open read-only for everyone (their POST is the analyst's).
PAGE_GETS += ["scoring:catalog-create", "scoring:catalog-edit"]
PAGE_ANALYST_POSTS = [
    "lifecycle:model-create", "lifecycle:model-edit", "lifecycle:trait-add", "lifecycle:trait-delete",
    "lifecycle:sample-add", "lifecycle:sample-upload", "lifecycle:sample-remove", "lifecycle:model-train",
    "lifecycle:model-discover",
    "lifecycle:model-archive", "lifecycle:model-restore", "lifecycle:model-unpin",
    "lifecycle:version-tag", "lifecycle:version-notes", "registry:model-status", "registry:model-promote", "scoring:model-weights",
    "lifecycle:model-cadence", "scoring:score-feedback", "scoring:model-reset-learning",
    "scoring:catalog-create", "scoring:catalog-edit",
    "registry:experiment-create", "registry:experiment-edit", "registry:experiment-status",
    "registry:experiment-delete",
]
PAGE_REVIEWER_POSTS = ["registry:request-approve", "registry:request-reject", "registry:family-rollback",
                       "registry:family-policy", "registry:family-version-policy"]
EXPECTED[("lifecycle:version-activate", "POST")] = PAGE_VERSION_CHOICE
PAGE_OPEN_POSTS = ["lifecycle:token-create", "scoring:model-try"]  # every logged-in role, for themselves
# The cancel page lets every role try: the service refuses anyone but the author or an admin, and the page
# shows that refusal in place (the API answers it as 403).
PAGE_AUTHOR_POSTS: list[str] = []
PAGE_OPEN_POSTS += ["registry:request-cancel"]
PAGE_SELF_POSTS = ["lifecycle:token-revoke"]  # a user revokes their own tokens
PAGE_ADMIN_GETS = ["lifecycle:webhook-list"]
PAGE_ADMIN_POSTS = ["lifecycle:webhook-create", "lifecycle:webhook-edit", "lifecycle:webhook-delete",
                    "lifecycle:webhook-test"]

for name in PAGE_GETS:
    EXPECTED[(name, "GET")] = PAGE_READ
for name in PAGE_ANALYST_GETS:
    EXPECTED[(name, "GET")] = PAGE_ANALYST
for name in PAGE_ANALYST_POSTS:
    EXPECTED[(name, "POST")] = PAGE_ANALYST
for name in PAGE_REVIEWER_POSTS:
    EXPECTED[(name, "POST")] = PAGE_REVIEWER
for name in PAGE_OPEN_POSTS:
    EXPECTED[(name, "POST")] = PAGE_READ
for name in PAGE_AUTHOR_POSTS:
    EXPECTED[(name, "POST")] = PAGE_AUTHOR
for name in PAGE_SELF_POSTS:
    EXPECTED[(name, "POST")] = PAGE_READ
for name in PAGE_ADMIN_GETS:
    EXPECTED[(name, "GET")] = PAGE_ADMIN
for name in PAGE_ADMIN_POSTS:
    EXPECTED[(name, "POST")] = PAGE_ADMIN


def all_url_names() -> set[str]:
    names = set()

    def walk(patterns, namespace=""):
        for p in patterns:
            if isinstance(p, URLResolver):
                if str(p.pattern).startswith("admin/"):
                    continue
                walk(p.url_patterns, p.namespace or namespace)
            elif isinstance(p, URLPattern):
                names.add(f"{namespace}:{p.name}" if namespace else p.name)

    walk(get_resolver().url_patterns)
    return names


@pytest.fixture
def world(db):
    users = {role: make_user(role) for role in ROLES[1:]}
    admin, analyst = users["admin"], users["analyst"]
    model = make_model(analyst, key="m")
    add_samples(model, analyst)
    run = services.model_train_enqueue(model=model, actor=analyst)
    services.run_execute(run_id=run.pk)
    services.version_tag(model=model, actor=analyst, version="v1", name="t1")
    make_catalog()
    bandit = live_model(admin, key="nbo", model_type="bayesian")
    from registry import experiments
    from scoring.models import ContactPolicy, Creative, DecisionFlow, Offer, SuppressionRule

    flow = DecisionFlow.objects.create(key="flow", name="Flow", family="offers")
    flow.offers.set(Offer.objects.all())
    SuppressionRule.objects.create(key="rule", name="Rule", offer=Offer.objects.first(), outcomes=["decline"])
    ContactPolicy.objects.create(key="policy", name="Policy", max_impressions=1000)
    Creative.objects.create(key="banner", name="Banner", offer=Offer.objects.first())
    experiment = experiments.experiment_create(actor=analyst, key="exp", name="Exp", champion_model_id="nbo",
                                               champion_pct=100)
    rec = scoring_services.recommend(actor=analyst, customer_id="c1", family="offers")
    registry_services.model_set_status(model=model, actor=admin, status="active")
    registry_services.model_promote(model=model, actor=analyst, to_status="shadow", family="offers")
    request = registry_services.model_promote(model=model, actor=analyst, to_status="champion",
                                              family="offers").request
    model.refresh_from_db()
    scored = scoring_services.score(model=model, actor=analyst, inputs=[{"content": "hello"}])
    token, _ = services.api_token_create(user=users["viewer"], actor=users["viewer"], name="x")
    from lifecycle import webhooks

    # Port 9 (discard) refuses at once: the test ping fails fast instead of waiting for a receiver.
    webhook, _ = webhooks.webhook_create(actor=admin, url="http://127.0.0.1:9/hook", events=["run.failed"])
    values = {
        "pk": "m", "ref": "m", "sample_id": str(model.samples.first().pk), "run_id": str(run.pk), "version_no": "1", "fmt": "json",
        "trait_key": "churn", "name": "t1",
        "family": "offers", "request_id": scored.request_id, "kind": "offers", "key": "offer-0",
    }
    special = {
        "promotion-request": {"pk": str(request.pk)}, "registry:request": {"pk": str(request.pk)},
        "experiment": {"pk": str(experiment.pk)}, "registry:experiment": {"ref": experiment.key},
        "decision-trace": {"pk": str(rec.trace.pk)},
        "scoring:trace-detail": {"ref": rec.recommendation_id}, "category": {"key": "cards"},
        "channel": {"key": "email"}, "outcome-type": {"key": "click"}, "decision-flow": {"key": "flow"},
        "suppression-rule": {"key": "rule"}, "contact-policy": {"key": "policy"}, "creative": {"key": "banner"},
        "lifecycle:trait-delete": {"key": "churn"}, "lifecycle:token-revoke": {"pk": str(token.pk)},
        "webhook": {"pk": str(webhook.pk)}, "lifecycle:webhook": {"pk": str(webhook.pk)},
    }
    return {"users": users, "values": values, "special": special, "bandit": bandit}


def concrete_path(name: str, world) -> str:
    from django.urls import reverse

    pattern = _pattern_of(name)
    kwargs = {}
    for group in re.findall(r"\(\?P<(\w+)>|<(?:\w+:)?(\w+)>", pattern):
        arg = group[0] or group[1]
        if arg == "format":
            continue
        kwargs[arg] = world["values"][arg]
    for prefix, override in world["special"].items():
        if name.startswith(prefix):
            kwargs.update({k: v for k, v in override.items() if k in kwargs})
    return reverse(name, kwargs=kwargs)


def _pattern_of(name: str) -> str:
    def walk(patterns, namespace="", prefix=""):
        for p in patterns:
            if isinstance(p, URLResolver):
                found = walk(p.url_patterns, p.namespace or namespace, prefix + str(p.pattern))
                if found is not None:
                    return found
            elif (f"{namespace}:{p.name}" if namespace else p.name) == name:
                return prefix + str(p.pattern)
        return None

    return walk(get_resolver().url_patterns)


def classify(response) -> str:
    code = response.status_code
    if code in (301, 302) and "/login/" in response.get("Location", ""):
        return "login"
    if code in (401, 403, 405):
        return str(code)
    if code >= 500:
        return f"5xx({code})"
    return "ok"


def client_for(role: str, world, *, api: bool):
    if role == "anonymous":
        return APIClient() if api else Client()
    user = world["users"][role]
    if api:
        _, key = services.api_token_create(user=user, actor=user, name="matrix")
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        return client
    client = Client()
    client.force_login(user)
    return client


def test_every_url_has_an_expectation():
    covered = {name for name, _ in EXPECTED}
    missing = sorted(all_url_names() - covered)
    assert not missing, f"URLs without an expectation in the permission matrix: {missing}"


def test_the_permission_matrix(world):
    observed, failures = {}, []
    for (name, method), expected in sorted(EXPECTED.items()):
        api = not name.count(":") and name not in ("healthz", "login", "logout")
        path = concrete_path(name, world)
        row = []
        for role in ROLES:
            client = client_for(role, world, api=api)
            with transaction.atomic():
                response = getattr(client, method.lower())(path, **({"data": {}, "format": "json"} if api and
                                                                      method != "GET" else {}))
                transaction.set_rollback(True)
            row.append(classify(response))
        observed[(name, method)] = " ".join(row)
        if observed[(name, method)] != expected:
            failures.append(f"{method} {path} ({name}): expected [{expected}] observed [{observed[(name, method)]}]")
    if os.environ.get("PRINT_MATRIX"):
        for key, value in sorted(observed.items()):
            print(f"{key[1]:6} {key[0]:40} {value}")
    assert not failures, "\n".join(failures)

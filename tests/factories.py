"""Builders for tests: every object is made through the services, as a user would make it."""

from __future__ import annotations

import random

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from lifecycle import services
from lifecycle.core.roles import ensure_roles

PASSWORD = "test-password-1"


def make_user(role: str = "analyst", username: str | None = None):
    ensure_roles()
    User = get_user_model()
    user, _ = User.objects.get_or_create(username=username or role)
    user.set_password(PASSWORD)
    user.is_superuser = user.is_staff = role == "admin"
    user.save()
    user.groups.set([Group.objects.get(name=role)])
    return User.objects.get(pk=user.pk)  # fresh, so permission caches start empty


def make_model(actor, *, key: str = "churn-risk", model_type: str = "logistic_regression", traits=("churn",)):
    return services.model_create(actor=actor, key=key, name=key.replace("-", " ").title(), model_type=model_type,
                                 traits=[{"name": t} for t in traits])


def sample_rows(n: int = 80, *, trait: str = "churn", seed: int = 1, noise: float = 0.0) -> list[dict]:
    """Rows where the label follows the features (learnable), mixing numbers, categories and text. Without noise
    the text gives the label away (a perfect model, whose top tiers coincide); `noise` flips that share of labels
    after the features are drawn, as real data would."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        tenure = rng.randint(1, 60)
        plan = rng.choice(["basic", "plus", "pro"])
        churn = tenure < 20 or (plan == "basic" and rng.random() < 0.3)
        text = rng.choice(["cancel my account please", "too expensive, leaving"]) if churn else rng.choice(
            ["love the service", "great support thanks"])
        if noise and rng.random() < noise:
            churn = not churn
        rows.append({"features": {"tenure": tenure, "plan": plan, "spend": round(rng.uniform(5, 90), 2)},
                     "content": text, "labels": {trait: "positive" if churn else "negative"}})
    return rows


def add_samples(model, actor, n: int = 80, *, trait: str = "churn", seed: int = 1, noise: float = 0.0):
    return services.sample_add_batch(model=model, actor=actor,
                                     samples=sample_rows(n, trait=trait, seed=seed, noise=noise))


def train_now(model, actor, capture, **kwargs):
    """Enqueue a run and execute it synchronously once the transaction commits."""
    with capture(execute=True):
        run = services.model_train_enqueue(model=model, actor=actor, **kwargs)
    run.refresh_from_db()
    model.refresh_from_db()
    return run


def ready_model(actor, capture, *, key: str = "churn-risk", model_type: str = "logistic_regression"):
    model = make_model(actor, key=key, model_type=model_type)
    add_samples(model, actor)
    train_now(model, actor, capture)
    return model

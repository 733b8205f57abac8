"""Demo users and a few models in different states, created only when the database has no models.

It lives in scoring, the top app, because the demo spans all three: models and runs (lifecycle), the ladder and
an experiment (registry), a catalog and a live champion (scoring)."""

import random
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.utils import timezone

from lifecycle import services
from lifecycle.choices import TraitDirection
from lifecycle.models import AlgorithmModel
from registry import experiments
from registry import services as registry_services

from ... import services as scoring_services
from ...models import Category, Channel, DecisionFlow, Offer

DEMO_USERS = [("analyst", "analyst"), ("reviewer", "reviewer"), ("admin", "admin"), ("viewer", "viewer")]


def churn_rows(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    notes_pos = ["wants to cancel", "price too high", "moving to a competitor", "service outage again"]
    notes_neg = ["happy with the plan", "asked about upgrades", "renewed early", "praised support"]
    rows = []
    for _ in range(n):
        tenure = rng.randint(1, 72)
        plan = rng.choice(["basic", "plus", "pro"])
        tickets = rng.randint(0, 8)
        spend = round(rng.uniform(10, 120), 2)
        risk = 0.9 - tenure / 90 + tickets * 0.07 + (0.15 if plan == "basic" else 0) + rng.gauss(0, 0.15)
        churn = risk > 0.55
        upsell = spend > 70 and not churn and rng.random() < 0.8
        rows.append({
            "features": {"tenure_months": tenure, "plan": plan, "support_tickets": tickets, "monthly_spend": spend},
            # Notes are a hint, not the answer: a quarter of them say the opposite.
            "content": rng.choice(notes_pos if churn != (rng.random() < 0.25) else notes_neg),
            "labels": {"churn": "positive" if churn else "negative", "upsell": "positive" if upsell else "negative"},
        })
    return rows


def tone_rows(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    polite = ["thank you so much for your help", "could you please check my order", "appreciate the quick reply",
              "kind regards and thanks", "would you mind resending the invoice"]
    rude = ["this is useless fix it now", "worst support ever", "i demand a refund immediately",
            "nobody answers, terrible", "stop wasting my time"]
    return [{"content": rng.choice(polite if (p := rng.random() < 0.5) else rude),
             "labels": {"polite": "positive" if p else "negative"}} for _ in range(n)]


class Command(BaseCommand):
    help = "Create demo users and demo models (only when there are no models yet)."

    def handle(self, *args, **options):
        for username, role in DEMO_USERS:
            call_command("adduser", username, role=role, password=f"{username}-demo", stdout=self.stdout)
        if AlgorithmModel.objects.exists():
            self.stdout.write("Models exist already; demo data left as it is.")
            return
        analyst = get_user_model().objects.get(username="analyst")

        def train_inline(model):
            # Trained in this process so the app starts with a serving model; the queued task then finds
            # the run finished and does nothing.
            run = services.model_train_enqueue(model=model, actor=analyst)
            services.run_execute(run_id=run.pk)

        ready = services.model_create(actor=analyst, key="churn-risk", name="Churn risk",
                                      model_type="gradient_boosted",
                                      description="Which customers are about to leave, from usage and notes.",
                                      traits=[{"name": "churn", "description": "Customer cancels within 60 days"},
                                              {"name": "upsell", "description": "Customer accepts an upgrade"}])
        services.sample_add_batch(model=ready, actor=analyst, samples=churn_rows(1500, 1))
        self._quietly(train_inline, ready)
        self._quietly(train_inline, ready)  # a second version, to show history and rollback

        # A credit scorecard scores a credit risk: a higher score is worse, so its tiers read Low ... Very high risk.
        scorecard = services.model_create(
            actor=analyst, key="credit-scorecard", name="Credit scorecard",
            description="Who is likely to miss a payment, scored in points per attribute.",
            traits=[{"name": "Default risk", "description": "Customer misses a payment within 12 months",
                     "direction": TraitDirection.HIGHER_IS_BAD}], model_type="scorecard")
        # The demo's generated customers: the same at-risk rule stands in for missing a payment.
        services.sample_add_batch(model=scorecard, actor=analyst, samples=[
            {**row, "labels": {"default_risk": row["labels"]["churn"]}} for row in churn_rows(600, 2)])
        self._quietly(train_inline, scorecard)

        tone = services.model_create(actor=analyst, key="support-tone", name="Support tone",
                                     model_type="logistic_regression",
                                     description="Is a support message polite? A draft waiting for its first train.",
                                     traits=[{"name": "polite", "positiveLabel": "polite", "negativeLabel": "rude"}])
        services.sample_add_batch(model=tone, actor=analyst, samples=tone_rows(300, 3))

        failed = services.model_create(actor=analyst, key="upsell-neural", name="Upsell (neural)",
                                       model_type="neural_cf", traits=[{"name": "upsell"}])
        # Labels of both classes, so the train is queued; no feature values, so the run fails, as the page explains.
        services.sample_add_batch(model=failed, actor=analyst, samples=[
            {"features": {"spend": None}, "labels": {"upsell": "positive" if i % 2 else "negative"}}
            for i in range(12)])
        self._quietly(train_inline, failed)

        services.model_create(actor=analyst, key="next-best-offer", name="Next best offer",
                              model_type="thompson_bandit", description="Learns from responses.")
        self._decisioning(analyst)
        self.stdout.write(self.style.SUCCESS(f"Demo data: {AlgorithmModel.objects.count()} models"))

    def _decisioning(self, analyst):
        """A catalog, a flow and a live bandit champion that has learned from a few hundred responses."""
        admin = get_user_model().objects.get(username="admin")
        email = Channel.objects.create(key="email", name="Email", direction="outbound")
        web = Channel.objects.create(key="web", name="Web", direction="inbound")
        cards = Category.objects.create(key="cards", name="Credit cards")
        loans = Category.objects.create(key="loans", name="Loans")
        offers = []
        for key, name, category, apr in [("platinum-card", "Platinum card", cards, 19.9),
                                         ("cashback-card", "Cashback card", cards, 22.9),
                                         ("travel-card", "Travel card", cards, 24.9),
                                         ("personal-loan", "Personal loan", loans, 7.9),
                                         ("car-loan", "Car loan", loans, 5.9)]:
            offer = Offer.objects.create(key=key, name=name, category=category, attributes={"apr": apr})
            offer.channels.set([email, web])
            offers.append(offer)
        flow = DecisionFlow.objects.create(key="homepage", name="Homepage hero", family="card-offers")
        flow.offers.set(offers)
        bandit = services.model_create(actor=analyst, key="offers-bandit", name="Offers bandit",
                                       model_type="thompson_bandit",
                                       description="Ranks the card and loan offers; learns on every response.")
        run = services.model_train_enqueue(model=bandit, actor=analyst)
        services.run_execute(run_id=run.pk)
        registry_services.model_set_status(model=bandit, actor=analyst, status="active")
        registry_services.model_promote(model=bandit, actor=analyst, to_status="challenger", family="card-offers")
        registry_services.model_promote(model=bandit, actor=admin, to_status="champion", family="card-offers")
        scoring_services.model_set_outcome_weights(model=bandit, actor=analyst,
                                                   weights={"convert": 1.0, "click": 0.3, "dismiss": -0.2})
        # A shadow that scores every decision beside the champion, and an experiment giving a challenger 30%.
        for key, name, model_type, rung in [("offers-epsilon", "Offers epsilon-greedy", "epsilon_greedy", "shadow"),
                                            ("offers-bayes", "Offers Bayesian", "bayesian", "challenger")]:
            contender = services.model_create(actor=analyst, key=key, name=name, model_type=model_type,
                                              description=f"A {rung} of card-offers.")
            run = services.model_train_enqueue(model=contender, actor=analyst)
            services.run_execute(run_id=run.pk)
            registry_services.model_set_status(model=contender, actor=analyst, status="active")
            registry_services.model_promote(model=contender, actor=analyst, to_status=rung, family="card-offers")
            scoring_services.model_set_outcome_weights(model=contender, actor=analyst,
                                                       weights={"convert": 1.0, "click": 0.3, "dismiss": -0.2})
        experiments.experiment_create(actor=admin, key="homepage-bayes", name="Homepage: Bayesian challenger",
                                      status="active", family="card-offers", champion_pct=70,
                                      challengers=[{"modelId": "offers-bayes", "trafficPct": 30}])
        rng = random.Random(7)
        appeal = {"platinum-card": 0.35, "cashback-card": 0.2, "travel-card": 0.1, "personal-loan": 0.25,
                  "car-loan": 0.15}
        responses = 400
        start = timezone.now() - timedelta(days=6)
        for i in range(responses):
            rec = scoring_services.recommend(actor=analyst, customer_id=f"cust-{i % 160}",
                                             channel=rng.choice(["email", "web"]), decision_flow_key="homepage",
                                             limit=3, seed=i)
            top = rec.offers[0]["offerId"]
            outcome = "convert" if rng.random() < appeal[top] else rng.choice(["click", "dismiss", "dismiss"])
            # Spread over the last six days, so the experiment's chart has a history to show.
            scoring_services.respond(actor=analyst, idempotency_key=f"demo-{i}", customer_id=rec.customer_id,
                                     outcome=outcome, recommendation_id=rec.recommendation_id, rank=1,
                                     timestamp=start + timedelta(days=6) * (i / responses))

    def _quietly(self, fn, *args):
        import logging

        logging.disable(logging.ERROR)
        try:
            fn(*args)
        finally:
            logging.disable(logging.NOTSET)

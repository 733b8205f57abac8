import pytest

from lifecycle import services as lifecycle_services
from lifecycle.models import AlgorithmModel
from registry import services as registry_services
from scoring.models import Category, Channel, Offer


def make_catalog(n_offers: int = 4) -> list[Offer]:
    email = Channel.objects.create(key="email", name="Email", direction="outbound")
    web = Channel.objects.create(key="web", name="Web", direction="inbound")
    cards = Category.objects.create(key="cards", name="Cards")
    loans = Category.objects.create(key="loans", name="Loans")
    offers = []
    for i in range(n_offers):
        offer = Offer.objects.create(key=f"offer-{i}", name=f"Offer {i}", category=cards if i % 2 else loans,
                                     attributes={"apr": 10 + i})
        offer.channels.set([email, web])
        offers.append(offer)
    return offers


def live_model(admin, *, key: str, model_type: str, family: str = "offers", rung: str = "champion",
               config: dict | None = None) -> AlgorithmModel:
    """A snapshotted (continuous) model, active, moved up the ladder by an admin."""
    model = lifecycle_services.model_create(actor=admin, key=key, name=key, model_type=model_type)
    if config:
        AlgorithmModel.objects.filter(pk=model.pk).update(config=config)
    run = lifecycle_services.model_train_enqueue(model=model, actor=admin)
    lifecycle_services.run_execute(run_id=run.pk)
    model.refresh_from_db()
    registry_services.model_set_status(model=model, actor=admin, status="active")
    registry_services.model_promote(model=model, actor=admin, to_status="shadow" if rung == "shadow" else "challenger",
                                    family=family)
    if rung == "champion":
        registry_services.model_promote(model=model, actor=admin, to_status="champion", family=family)
    model.refresh_from_db()
    return model


@pytest.fixture
def catalog(db):
    return make_catalog()

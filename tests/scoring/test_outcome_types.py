"""The ten default outcome types exist after migrate and again after a flush; reading them writes nothing."""

import pytest
from django.core.management import call_command
from django.urls import reverse

from scoring.choices import DEFAULT_OUTCOME_TYPES
from scoring.models import OutcomeType

DEFAULT_KEYS = [key for key, *_ in DEFAULT_OUTCOME_TYPES]


@pytest.mark.django_db
def test_the_catalog_page_only_reads_the_outcome_types(as_analyst):
    OutcomeType.objects.all().delete()
    r = as_analyst.get(reverse("scoring:catalog"))
    assert r.status_code == 200
    assert not OutcomeType.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_flushed_database_has_the_default_outcome_types_again():
    call_command("flush", interactive=False, verbosity=0)
    assert list(OutcomeType.objects.order_by("ordinal").values_list("key", flat=True)) == DEFAULT_KEYS
    assert set(OutcomeType.objects.values_list("is_system", flat=True)) == {True}

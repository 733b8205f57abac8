"""Trait discovery: stray label keys, planted clusters and planted topics (no database)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from lifecycle.discovery import DiscoveredTrait, discover

BILLING = "refund delay invoice charge overcharged payment".split()
ACCESS = "login password locked reset account authentication".split()


def make_examples(n: int = 200, seed: int = 0) -> list[dict]:
    """Two income groups (rich north/south vs modest east/west) and two vocabularies."""
    rng = np.random.RandomState(seed)
    examples = []
    for i in range(n):
        rich = i % 2 == 1
        billing = rng.rand() < 0.5
        labels = {"churn": float(rng.rand() < 0.3)}
        if i % 4 == 0:
            labels["upsell"] = 1.0 if i % 8 == 0 else 0.0
        examples.append(
            {
                "features": {
                    "income": float(rng.normal(90_000 if rich else 40_000, 5_000)),
                    "age": float(rng.normal(40, 10)),
                    "region": str(rng.choice(["north", "south"] if rich else ["east", "west"])),
                },
                "content": "customer says "
                + " ".join(rng.choice(BILLING if billing else ACCESS, 6)),
                "labels": labels,
                "_rich": rich,
                "_billing": billing,
            }
        )
    return examples


@pytest.fixture(scope="module")
def examples() -> list[dict]:
    return make_examples()


@pytest.fixture(scope="module")
def found(examples) -> list[DiscoveredTrait]:
    return discover(examples, ["churn", "cluster_1"], seed=1)


def by_source(traits: list[DiscoveredTrait], source: str) -> list[DiscoveredTrait]:
    return [t for t in traits if t.source == source]


def test_finds_the_planted_label_key(found, examples):
    labels = by_source(found, "label")
    assert [t.key for t in labels] == ["upsell"]  # 'churn' is already known
    upsell = labels[0]
    assert upsell.member_indexes == []
    assert "50 of 200 samples" in upsell.description and "50%" in upsell.description
    assert upsell.anchor_indexes and len(upsell.anchor_indexes) <= 5
    assert all(examples[i]["labels"]["upsell"] == 1.0 for i in upsell.anchor_indexes)


def test_finds_planted_clusters_and_names_what_separates_them(found, examples):
    clusters = by_source(found, "cluster")
    assert len(clusters) == 2
    for trait in clusters:
        assert "income" in trait.description
        richness = {examples[i]["_rich"] for i in trait.member_indexes}
        assert len(richness) == 1  # each planted group is recovered exactly
        assert 1 <= len(trait.anchor_indexes) <= 5
        assert set(trait.anchor_indexes) <= set(trait.member_indexes)
    assert sorted(i for t in clusters for i in t.member_indexes) == list(range(200))
    high = next(t for t in clusters if examples[t.member_indexes[0]]["_rich"])
    assert re.search(r"income high \(mean 9\d(\.\d)?k vs [34]\d(\.\d)?k\)", high.description)
    assert "region=north" in high.description or "region=south" in high.description


def test_finds_planted_topics(found, examples):
    topics = by_source(found, "topic")
    assert len(topics) == 2
    vocabularies = []
    for trait in topics:
        terms = trait.description.removeprefix("top terms: ").split(", ")
        assert trait.description.startswith("top terms: ") and len(terms) == 5
        vocabulary = BILLING if set(terms) <= set(BILLING) else ACCESS
        assert set(terms) <= set(vocabulary)
        vocabularies.append(vocabulary is BILLING)
        members = trait.member_indexes
        assert {examples[i]["_billing"] for i in members} == {vocabulary is BILLING}
        assert len(members) >= 80
        assert set(trait.anchor_indexes) <= set(members) and 1 <= len(trait.anchor_indexes) <= 5
        assert re.fullmatch(r"topic_[a-z0-9_]+", trait.key)
    assert sorted(vocabularies) == [False, True]


def test_keys_are_unique_slugs_that_avoid_known_keys(found):
    keys = [t.key for t in found]
    assert len(keys) == len(set(keys))
    assert "churn" not in keys and "cluster_1" not in keys
    for trait in found:
        assert re.fullmatch(r"[a-z0-9_]+", trait.key)
        assert trait.name and trait.positive_label and trait.negative_label


def test_is_deterministic(examples, found):
    assert discover(examples, ["churn", "cluster_1"], seed=1) == found


def test_small_inputs_skip_clusters_and_topics():
    few = make_examples(15)
    traits = discover(few, ["churn"])
    assert {t.source for t in traits} == {"label"}
    assert discover([], []) == []


def test_progress_is_monotonic_and_below_done(examples):
    calls: list[tuple[int, str]] = []
    discover(
        examples,
        [],
        effort="low",
        progress=lambda percent, message: calls.append((percent, message)),
    )
    percents = [percent for percent, _ in calls]
    assert percents == sorted(percents) and percents[-1] < 100 and percents[0] == 5


def test_unknown_effort_is_refused(examples):
    with pytest.raises(ValueError, match="effort"):
        discover(examples, [], effort="extreme")

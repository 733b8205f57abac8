"""What a version reads, from the rows its featurizer was fitted on (no database)."""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from lifecycle import trainers


def rows(n: int = 120) -> list[dict]:
    out = []
    for i in range(n):
        out.append(trainers.normalize_row({
            "features": {"age": None if i % 10 == 0 else 20 + i % 40, "city": f"city-{i % 60}",
                         "plan": "basic" if i % 3 else "pro", "note": "a few words here" if i % 2 else ""},
            "content": "several words of free text" if i % 4 else None}))
    return out


@pytest.fixture(scope="module")
def schema() -> dict[str, dict]:
    data = rows()
    featurizer = trainers.Featurizer.fit(data, trainers.infer_columns(data), trainers.LINEAR)
    return {e["name"]: e for e in trainers.input_schema(data, featurizer)}


def test_each_column_says_its_type_range_typical_value_and_missing_rate(schema):
    assert {n: e["type"] for n, e in schema.items()} == {"age": "number", "city": "category", "plan": "category",
                                                          "note": "category", "content": "text"}
    age = schema["age"]
    assert (age["min"], age["max"], age["missingRate"]) == (21.0, 59.0, 0.1)
    assert age["typical"] == 40.0  # the median, which a missing age is scored as
    assert schema["plan"]["categories"] == ["basic", "pro"] and schema["plan"]["typical"] == "basic"
    assert schema["plan"]["moreCategories"] is False and schema["plan"]["missingRate"] == 0
    assert schema["content"]["source"] == "content" and schema["content"]["missingRate"] == 0.25
    assert schema["content"]["typicalWords"] == 5
    json.dumps(list(schema.values()), allow_nan=False)  # stored as JSON as it is


def test_categories_are_capped_with_a_flag_when_there_were_more(schema):
    city = schema["city"]
    assert len(city["categories"]) == trainers.MAX_CATEGORIES and city["moreCategories"] is True


def test_an_older_version_tells_what_its_featurizer_kept(schema):
    data = rows()
    featurizer = trainers.Featurizer.fit(data, trainers.infer_columns(data), trainers.TREE)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("manifest.json", json.dumps({"format": trainers.ARTIFACT_FORMAT}))
        archive.writestr("featurizer.json", json.dumps(featurizer.state))
    derived = {e["name"]: e for e in
               trainers.input_schema_from_featurizer(trainers.featurizer_state(buffer.getvalue()))}
    assert {n: e["type"] for n, e in derived.items()} == {n: e["type"] for n, e in schema.items()}
    assert derived["age"]["typical"] == schema["age"]["typical"] and derived["age"]["min"] is None
    assert derived["plan"]["categories"] == ["basic", "pro"] and derived["plan"]["moreCategories"] is None
    assert all(e["missingRate"] is None for e in derived.values())
    with pytest.raises(ValueError):
        trainers.featurizer_state(b"not a zip")

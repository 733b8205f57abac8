"""How a label written by a person or a script becomes a quality in [0, 1]."""

from __future__ import annotations

POSITIVE_WORDS = frozenset({"positive", "pos", "good", "yes", "true", "1", "accept", "accepted", "hit"})
NEGATIVE_WORDS = frozenset({"negative", "neg", "bad", "no", "false", "0", "reject", "rejected", "miss"})


def parse_quality(value, *, positive_label: str = "positive", negative_label: str = "negative") -> float:
    """Return the quality for a label, or raise ValueError with a message a person can act on."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)):
        if 0.0 <= float(value) <= 1.0:
            return float(value)
        raise ValueError(f"{value} is outside [0, 1]; use 1 for positive, 0 for negative or a share in between")
    if isinstance(value, str):
        word = value.strip().lower()
        if word in POSITIVE_WORDS or word == positive_label.lower():
            return 1.0
        if word in NEGATIVE_WORDS or word == negative_label.lower():
            return 0.0
        try:
            return parse_quality(float(word))
        except ValueError:
            pass
    raise ValueError(f"{value!r} is not a label; use \"positive\", \"negative\" or a number in [0, 1]")

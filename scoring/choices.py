from django.db import models


class Classification(models.TextChoices):
    POSITIVE = "positive", "Positive"
    NEGATIVE = "negative", "Negative"
    NEUTRAL = "neutral", "Neutral"


class OutcomeCategory(models.TextChoices):
    IMPRESSION = "impression", "Impression"
    RESPONSE = "response", "Response"


class Direction(models.TextChoices):
    INBOUND = "inbound", "Inbound"
    OUTBOUND = "outbound", "Outbound"


class Scope(models.TextChoices):
    OFFER = "offer", "Offer"
    CHANNEL = "channel", "Channel"
    DIRECTION = "direction", "Direction"
    CATEGORY = "category", "Category"
    GLOBAL = "global", "Global"


# Read order and minimum evidence of each tier (seed 001, "Scope hierarchy").
READ_ORDER = (Scope.OFFER, Scope.CHANNEL, Scope.DIRECTION, Scope.CATEGORY, Scope.GLOBAL)
EVIDENCE_THRESHOLDS = {Scope.OFFER: 50, Scope.CHANNEL: 15, Scope.CATEGORY: 20, Scope.DIRECTION: 10, Scope.GLOBAL: 10}
SMOOTHING_WEIGHT = 10
COLD_START_PROPENSITY = 0.5

# The ten outcome types that exist after migrate (key, name, classification, category).
DEFAULT_OUTCOME_TYPES = [
    ("impression", "Impression", Classification.NEUTRAL, OutcomeCategory.IMPRESSION),
    ("click", "Click", Classification.POSITIVE, OutcomeCategory.RESPONSE),
    ("accept", "Accept", Classification.POSITIVE, OutcomeCategory.RESPONSE),
    ("convert", "Convert", Classification.POSITIVE, OutcomeCategory.RESPONSE),
    ("renewed", "Renewed", Classification.POSITIVE, OutcomeCategory.RESPONSE),
    ("dismiss", "Dismiss", Classification.NEGATIVE, OutcomeCategory.RESPONSE),
    ("decline", "Decline", Classification.NEGATIVE, OutcomeCategory.RESPONSE),
    ("unsubscribed", "Unsubscribed", Classification.NEGATIVE, OutcomeCategory.RESPONSE),
    ("complaint", "Complaint", Classification.NEGATIVE, OutcomeCategory.RESPONSE),
    ("no_action", "No action", Classification.NEUTRAL, OutcomeCategory.RESPONSE),
]

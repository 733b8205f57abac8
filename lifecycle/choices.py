"""The states of a model and their transitions, in one place.

Each status field has one transition table here and one service that assigns it.
"""

from django.db import models


class ModelType(models.TextChoices):
    LOGISTIC_REGRESSION = "logistic_regression", "Logistic regression"
    GRADIENT_BOOSTED = "gradient_boosted", "Gradient boosted trees"
    SCORECARD = "scorecard", "Scorecard"
    NEURAL_CF = "neural_cf", "Neural (customer x offer x context)"
    THOMPSON_BANDIT = "thompson_bandit", "Thompson sampling bandit"
    EPSILON_GREEDY = "epsilon_greedy", "Epsilon-greedy bandit"
    ONLINE_LEARNER = "online_learner", "Online learner (SGD)"
    BAYESIAN = "bayesian", "Bayesian (Beta-Binomial)"
    EXTERNAL_ENDPOINT = "external_endpoint", "External endpoint"


class State(models.TextChoices):
    """Training state (seed 000)."""

    DRAFT = "draft", "Draft"
    BUSY = "busy", "Busy"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"
    ARCHIVED = "archived", "Archived"


STATE_COLORS = {
    State.DRAFT: "grey",
    State.BUSY: "blue",
    State.READY: "green",
    State.FAILED: "red",
    State.ARCHIVED: "dark",
}


class OperationalStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused"
    ARCHIVED = "archived", "Archived"


class RegistryStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SHADOW = "shadow", "Shadow"
    CHALLENGER = "challenger", "Challenger"
    CHAMPION = "champion", "Champion"
    ARCHIVED = "archived", "Archived"


class LearnMode(models.TextChoices):
    NONE = "none", "None"
    SCHEDULED = "scheduled", "Scheduled"


class TraitDirection(models.TextChoices):
    """Whether a high score is what people want (a propensity) or what they fear (a risk): the tier words follow it."""

    HIGHER_IS_GOOD = "higher_is_good", "A higher score is good (a propensity, e.g. will buy)"
    HIGHER_IS_BAD = "higher_is_bad", "A higher score is bad (a risk, e.g. will churn)"


# The seed's tier labels (the API keeps them) in the words of each direction, lowest tier first.
TIER_WORDS = {
    TraitDirection.HIGHER_IS_GOOD: {"Weak": "Weak", "Developing": "Developing", "Solid": "Solid", "Strong": "Strong"},
    TraitDirection.HIGHER_IS_BAD: {"Weak": "Low risk", "Developing": "Moderate risk", "Solid": "High risk",
                                   "Strong": "Very high risk"},
}


def tier_word(label: str | None, direction: str | None) -> str | None:
    """The tier's name for people, following the trait's direction (unknown directions read as propensities)."""
    if label is None:
        return None
    return TIER_WORDS.get(direction, TIER_WORDS[TraitDirection.HIGHER_IS_GOOD]).get(label, label)


class TraitKind(models.TextChoices):
    EXTRINSIC = "extrinsic", "Extrinsic (defined by an analyst)"
    INTRINSIC = "intrinsic", "Intrinsic (found by discovery)"


class SampleSource(models.TextChoices):
    EXPLICIT = "explicit", "Explicit"
    FEEDBACK = "feedback", "Feedback"
    RESPONSE = "response", "Response"


class RunKind(models.TextChoices):
    TRAIN = "train", "Train"
    RETRAIN = "retrain", "Retrain"
    RETUNE = "retune", "Retune"
    RETRAIN_BUFFERED = "retrain_buffered", "Scheduled retrain"
    DISCOVER = "discover", "Discovery"


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


RUN_IN_FLIGHT = frozenset({RunStatus.QUEUED, RunStatus.RUNNING})


class Effort(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    MAX = "max", "Max"


class VersionHold(models.TextChoices):
    """Whether a version may serve: held versions wait for a reviewer, rejected ones never serve."""

    NONE = "", "Free"
    HELD = "held", "Held for review"
    REJECTED = "rejected", "Rejected"


class VersionTrigger(models.TextChoices):
    TRAIN = "train", "Train"
    RETRAIN = "retrain", "Retrain"
    RETUNE = "retune", "Retune"
    RETRAIN_BUFFERED = "retrain_buffered", "Scheduled retrain"
    BACKFILL = "backfill", "Backfill"
    RESET = "reset", "Learning reset"  # the learned state kept as a version before a reset clears it


# Which training-state moves each action may make. The services consult this table; nothing
# else assigns AlgorithmModel.state.
STATE_TRANSITIONS: dict[str, dict[str, frozenset[str]]] = {
    "train": {"from": frozenset({State.DRAFT, State.FAILED, State.READY})},
    "discover": {"from": frozenset({State.DRAFT})},
    "archive": {"from": frozenset({State.DRAFT, State.READY, State.FAILED})},
    "restore": {"from": frozenset({State.ARCHIVED})},
}

"""Scoring's writes, by subject: outcome weights, scoring, decisions (recommend and respond), learning from
responses, and the catalog. Callers use the package (`services.respond(...)`); the names below are its surface."""

from .catalog import catalog_record, outcome_type_for_response, outcome_types_ensure_defaults
from .decisions import IDEMPOTENCY_KEY_REUSED, Scorer, recommend, respond
from .learning import model_reset_learning
from .policies import impressions_purge
from .score import (NO_KNOWN_FEATURES, OUTSIDE_SCHEMA, InputCheck, InputChecker, ScoreResult, feature_suggestions,
                    feedback_by_request, feedback_given, learning_traits, model_for_score, offer_features, score,
                    score_requests_prune)
from .weights import MAX_OUTCOME_WEIGHTS, OUTCOME_KEY, clean_outcome_weights, model_set_outcome_weights, outcome_weight

__all__ = [
    "IDEMPOTENCY_KEY_REUSED", "InputCheck", "InputChecker", "MAX_OUTCOME_WEIGHTS", "NO_KNOWN_FEATURES", "OUTCOME_KEY",
    "OUTSIDE_SCHEMA", "ScoreResult", "Scorer", "catalog_record", "feature_suggestions",
    "clean_outcome_weights", "feedback_by_request", "feedback_given", "impressions_purge", "learning_traits",
    "model_reset_learning", "model_for_score", "model_set_outcome_weights", "offer_features",
    "outcome_type_for_response", "outcome_types_ensure_defaults", "outcome_weight", "recommend", "respond", "score",
    "score_requests_prune",
]

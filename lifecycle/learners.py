"""The models that are not fitted to samples here: continuous learners and external endpoints.

Their first train snapshots what they start from (priors, exploration rate, endpoint), so that every
type follows the same rule: scorable only after it has been ready once. They then learn on every
response (scoring.learning) or score through the operator's endpoint (scoring.external)."""

from __future__ import annotations

import hashlib
import json

from . import endpoints
from .model_types import CONTINUOUS_TYPES, EXTERNAL_TYPE
from .trainers import TrainingError, TrainResult

ARTIFACT_FORMAT = "model-lifecycle/learner"

DEFAULTS = {
    "thompson_bandit": {"priorAlpha": 1.0, "priorBeta": 1.0},
    "epsilon_greedy": {"epsilon": 0.1},
    "online_learner": {"learningRate": 0.05, "l2": 0.0001, "hashDimensions": 4096},
    "bayesian": {"priorAlpha": 1.0, "priorBeta": 1.0},
}
LIMITS = {
    "priorAlpha": (0.001, 10_000), "priorBeta": (0.001, 10_000), "epsilon": (0.0, 1.0),
    "learningRate": (1e-6, 10.0), "l2": (0.0, 1.0), "hashDimensions": (16, 1 << 20),
}


def _number(name: str, value) -> float:
    low, high = LIMITS[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise TrainingError(f"config.{name} must be a number from {low} to {high}")
    return float(value)


def snapshot(model_type: str, config: dict, *, allowed_hosts: frozenset[str] | set[str] = frozenset(),
             progress=None) -> TrainResult:
    if model_type == EXTERNAL_TYPE:
        params = endpoint_params(config, allowed_hosts)
    elif model_type in CONTINUOUS_TYPES:
        params = dict(DEFAULTS[model_type])
        for name in params:
            if name in (config or {}):
                params[name] = _number(name, config[name])
        if model_type == "online_learner":
            params["hashDimensions"] = int(params["hashDimensions"])
    else:
        raise TrainingError(f"{model_type} is trained from samples, not snapshotted")
    if progress:
        progress(50, "Snapshotting the starting state")
    artifact = json.dumps({"format": ARTIFACT_FORMAT, "modelType": model_type, "params": params},
                          sort_keys=True).encode()
    return TrainResult(artifact=artifact, metrics={}, predictors=[],
                       param_hash=hashlib.sha256(artifact).hexdigest()[:16], params=params, sample_count=0)


def endpoint_params(config: dict, allowed_hosts) -> dict:
    try:
        return endpoints.check_config(config, allowed_hosts)
    except endpoints.EndpointConfigError as exc:
        raise TrainingError(str(exc)) from None


def load(artifact: bytes) -> dict:
    data = json.loads(artifact)
    if data.get("format") != ARTIFACT_FORMAT:
        raise ValueError("not a learner snapshot")
    return data

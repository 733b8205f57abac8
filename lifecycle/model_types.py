"""The groups of model types, by how a type learns and serves. Plain Python, so that the trainers and
anything else without Django settings can import it; lifecycle.choices.ModelType names the same strings."""

# Fitted to samples here; a new version per train.
TABULAR_TYPES = frozenset({"logistic_regression", "gradient_boosted", "scorecard", "neural_cf"})

# Learn on every response while they serve; their first train only snapshots the starting state.
CONTINUOUS_TYPES = frozenset({"thompson_bandit", "epsilon_greedy", "online_learner", "bayesian"})

# The continuous learners whose state is the adaptation cells alone (the online learner also keeps weights).
CELL_TYPES = frozenset({"thompson_bandit", "epsilon_greedy", "bayesian"})

# Scores through the operator's endpoint; never trained here.
EXTERNAL_TYPE = "external_endpoint"

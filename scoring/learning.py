"""Propensity from learned cells (seed 001's scope hierarchy), how each cell learner ranks on them, and the online
learner's step; pure functions, so the decision service and the learners' simulation run the same code."""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from scipy.special import betaincinv

from .choices import COLD_START_PROPENSITY, EVIDENCE_THRESHOLDS, SMOOTHING_WEIGHT, Scope


@dataclass(frozen=True)
class Cell:
    evidence: int
    positives: float
    negatives: float

    @property
    def rate(self) -> float | None:
        total = self.positives + self.negatives
        return self.positives / total if total > 0 else None

    def learned(self, weight: float) -> Cell:
        """The cell after one response of this weight, as /respond's increment leaves it in the database."""
        return Cell(self.evidence + 1, self.positives + max(weight, 0.0), self.negatives + max(-weight, 0.0))


def _no_words() -> str:
    return ""


# Named tuples, not dataclasses, for what every candidate of every request makes: several times cheaper to build.
class Propensity(NamedTuple):
    value: float
    source: str  # offer | offer_blend | channel | direction | category | global | default
    evidence: int = 0
    explain: Callable[[], str] = _no_words

    @property
    def detail(self) -> str:
        """Worded when asked: a simulation scores millions of candidates and reads none of the words."""
        return self.explain()


# Plain strings: they hash like the Scope members the cells are keyed by, and cost less to look up here,
# where every candidate of every request passes.
_OFFER, _FALLBACK_ORDER = str(Scope.OFFER), tuple(str(s) for s in (Scope.CHANNEL, Scope.DIRECTION, Scope.CATEGORY,
                                                                   Scope.GLOBAL))
_THRESHOLD = {str(scope): n for scope, n in EVIDENCE_THRESHOLDS.items()}
_COLD_START = Propensity(COLD_START_PROPENSITY, "default", 0,
                         lambda: f"no tier has enough evidence yet: cold start {COLD_START_PROPENSITY:g}")


def _fallback(cells: dict[str, Cell | None]) -> Propensity:
    """The strongest tier below offer whose evidence meets its threshold, else the cold-start 0.5."""
    for scope in _FALLBACK_ORDER:
        cell = cells.get(scope)
        if cell is not None and cell.evidence >= _THRESHOLD[scope] and cell.rate is not None:
            return Propensity(cell.rate, scope, cell.evidence,
                              lambda: f"{scope} cell: {cell.evidence} responses (threshold {_THRESHOLD[scope]})")
    return _COLD_START


def propensity(cells: dict[str, Cell | None], *, smoothing_weight: float = SMOOTHING_WEIGHT,
               fallback: Propensity | None = None) -> Propensity:
    """offer -> channel -> direction -> category -> global -> 0.5; thin offer evidence (1..49) is blended
    with the strongest fallback: (n * offer_rate + k * fallback) / (n + k). `fallback`, when given, is
    _fallback(cells) worked out already (candidates share their broader cells)."""
    offer = cells.get(_OFFER)
    rate = offer.rate if offer is not None else None
    if rate is not None:
        n = offer.evidence
        if n >= _THRESHOLD[_OFFER]:
            return Propensity(rate, "offer", n, lambda: f"offer cell: {n} responses (threshold {_THRESHOLD[_OFFER]})")
        if n > 0:
            fb = fallback or _fallback(cells)
            value = (n * rate + smoothing_weight * fb.value) / (n + smoothing_weight)
            return Propensity(value, "offer_blend", n, lambda: (
                f"offer cell has only {n} responses: blended with the {fb.source} tier ({fb.value:.3f}) at "
                f"smoothing weight {smoothing_weight:g}"))
    return fallback or _fallback(cells)


# ------------------------------------------------------------------------------------- how cell learners rank
# The propensity above is the seed's estimate and what an answer carries. How a learner ranks is its own, on
# a posterior where an offer's evidence is its own (an unseen offer has n = 0) and the fallback tier is only a
# prior worth `smoothing_weight` pseudo-observations: a channel with thousands of responses gives an unseen
# offer a sensible starting rate without lending it the channel's certainty.

CELL_LEARNERS = ("thompson_bandit", "bayesian", "epsilon_greedy")
UNSEEN_FIRST = 2.0  # above every rate: epsilon-greedy tries an offer with no response of its own first


class Candidate(NamedTuple):
    """An offer's cells by scope, and the ids of its broader cells (`{"channel": "web"}`) for the trace."""

    cells: dict[str, Cell | None]
    names: dict[str, str] | None = None


class Posterior(NamedTuple):
    """Beta(alpha, beta) over an offer's success rate: the model's own prior, `weight` pseudo-observations at
    the prior tier's rate, then the offer's own responses."""

    alpha: float
    beta: float
    evidence: int  # the offer's own responses
    positives: float  # of which successes (weighted, as the cell counts them)
    prior: Propensity  # the tier the pseudo-observations come from
    weight: float
    names: dict[str, str] | None = None  # the broader cells' ids, to name the prior's

    @property
    def mean(self) -> float:
        return self.alpha / (self.alpha + self.beta)

    def words(self) -> str:
        """For the trace, e.g. 'unseen offer: prior from channel web at 7.5%, weight 10'."""
        if self.prior.source == "default":
            prior = f"cold-start prior at {self.prior.value:.1%}, weight {self.weight:g}"
        else:
            scope = self.prior.source
            name = f"{scope} {self.names[scope]}" if self.names and self.names.get(scope) else scope
            prior = f"prior from {name} at {self.prior.value:.1%}, weight {self.weight:g}"
        if self.evidence == 0:
            return f"unseen offer: {prior}"
        return f"{self.evidence} responses of its own ({self.positives:.3g} positive) on a {prior}"


def posterior(cells: dict[str, Cell | None], *, prior_alpha: float = 1.0, prior_beta: float = 1.0,
              smoothing_weight: float = SMOOTHING_WEIGHT, names: dict[str, str] | None = None,
              fallback: Propensity | None = None) -> Posterior:
    fallback = fallback or _fallback(cells)
    offer = cells.get(_OFFER)
    rate = offer.rate if offer is not None else None
    n = offer.evidence if rate is not None else 0
    s = n * rate if n else 0.0
    k = smoothing_weight
    return Posterior(prior_alpha + k * fallback.value + s, prior_beta + k * (1 - fallback.value) + (n - s),
                     n, s, fallback, k, names)


class Scored(NamedTuple):
    propensity: float  # the seed's estimate: what the answer carries
    source: str
    key: float  # what ranks: the estimate, or the learner's exploration of it
    explain: Callable[[], str] = _no_words

    @property
    def why(self) -> str:
        """Worded when asked: a simulation ranks millions of candidates and reads none of the words."""
        return self.explain()


def responses_learned(candidates: list[Candidate]) -> int:
    """Every response the model has learned from: the global cell counts each one."""
    cell = candidates[0].cells.get(Scope.GLOBAL) if candidates else None
    return cell.evidence if cell is not None else 0


def _fallbacks(candidates: list[Candidate]) -> list[Propensity]:
    """_fallback per candidate, worked out once per distinct set of broader cells (usually one per category)."""
    seen: dict[tuple, Propensity] = {}
    out = []
    channel, direction, category, global_ = _FALLBACK_ORDER
    for c in candidates:
        cells = c.cells
        key = (id(cells.get(channel)), id(cells.get(direction)), id(cells.get(category)), id(cells.get(global_)))
        if key not in seen:
            seen[key] = _fallback(cells)
        out.append(seen[key])
    return out


def score_cells(model_type: str, params: dict, candidates: list[Candidate], rng: random.Random, *,
                smoothing_weight: float = SMOOTHING_WEIGHT) -> list[Scored]:
    """The seed's propensity per candidate and the ranking key of the model type:
    thompson_bandit a draw from the posterior; bayesian Bayes-UCB, the posterior's upper 1 - 1/(t + 2)
    quantile after t responses (optimism that shrinks with each offer's own evidence); epsilon_greedy the
    estimate, an offer without a response of its own first, and with probability epsilon a random order."""
    fallbacks = _fallbacks(candidates)
    props = [propensity(c.cells, smoothing_weight=smoothing_weight, fallback=f) for c, f in zip(candidates, fallbacks)]
    if model_type == "epsilon_greedy":
        out = []
        for c, p in zip(candidates, props):
            offer = c.cells.get(_OFFER)
            if offer is None or offer.evidence == 0:
                out.append(Scored(p.value, p.source, UNSEEN_FIRST, lambda p=p: p.detail + "; unseen offer: tried "
                                  "first, until it has a response of its own"))
            else:
                out.append(Scored(p.value, p.source, p.value, lambda p=p: p.detail))
        epsilon = params["epsilon"]
        if rng.random() < epsilon:
            out = [Scored(s.propensity, s.source, rng.random(), lambda s=s: s.why + f"; explored: ranked at random "
                          f"(epsilon {epsilon:g})") for s in out]
        return out
    posts = [posterior(c.cells, prior_alpha=params["priorAlpha"], prior_beta=params["priorBeta"],
                       smoothing_weight=smoothing_weight, names=c.names, fallback=f)
             for c, f in zip(candidates, fallbacks)]
    if model_type == "thompson_bandit":
        out = []
        for p, post in zip(props, posts):
            draw = rng.betavariate(post.alpha, post.beta)
            out.append(Scored(p.value, p.source, draw, lambda p=p, post=post, draw=draw: (
                f"{p.detail}; ranked by a posterior draw ({draw:.3f}) from Beta({post.alpha:.3g}, {post.beta:.3g}): "
                f"{post.words()}")))
        return out
    if model_type == "bayesian":
        t = responses_learned(candidates)
        q = 1 - 1 / (t + 2)
        bounds = betaincinv([post.alpha for post in posts], [post.beta for post in posts], q).tolist() if posts else []
        return [Scored(p.value, p.source, bound, lambda p=p, post=post, bound=bound: (
            f"{p.detail}; posterior mean {post.mean:.3f}, ranked by its optimistic bound ({bound:.3f}, the "
            f"{q:.3%} quantile after {t} responses): {post.words()}")) for p, post, bound in zip(props, posts, bounds)]
    raise ValueError(f"{model_type} does not rank from learned cells")


def rank(keys: list[float], limit: int, rng: random.Random) -> list[int]:
    """The indices of the `limit` highest keys, highest first. Equal keys go in an order drawn from the
    request's random numbers (so a trace replays), never by offer key: at a cold start every estimate is
    equal, and key order would show the same offers first forever."""
    tie = [rng.random() for _ in keys]
    return sorted(range(len(keys)), key=lambda i: (-keys[i], tie[i]))[:limit]


# ---------------------------------------------------------------------------------------------- online learner


def _hash(name: str, dims: int) -> int:
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "little") % dims


def hashed(features: dict, dims: int) -> dict[int, float]:
    """Numbers by name, categories and booleans as name=value indicators, plus a bias term."""
    x: dict[int, float] = {_hash("__bias__", dims): 1.0}
    for name, value in features.items():
        if value is None:
            continue
        if isinstance(value, bool):
            key, val = f"{name}={value}", 1.0
        elif isinstance(value, (int, float)):
            key, val = name, float(value)
            val = math.copysign(math.log1p(abs(val)), val)  # tame large magnitudes for SGD
        else:
            key, val = f"{name}={value}", 1.0
        idx = _hash(key, dims)
        x[idx] = x.get(idx, 0.0) + val
    return x


def sigmoid(z: float) -> float:
    if z >= 0:
        return 1 / (1 + math.exp(-z))
    e = math.exp(z)
    return e / (1 + e)


def online_predict(weights: dict, x: dict[int, float]) -> float:
    return sigmoid(sum(weights.get(str(i), 0.0) * v for i, v in x.items()))


def online_step(weights: dict, x: dict[int, float], label: float, *, rate: float, l2: float,
                sample_weight: float = 1.0) -> dict:
    """One logistic-regression SGD step; returns the new weights (keys are str for JSON)."""
    error = online_predict(weights, x) - label
    out = dict(weights)
    for i, v in x.items():
        k = str(i)
        w = out.get(k, 0.0)
        out[k] = w - rate * sample_weight * (error * v + l2 * w)
    return out

"""The learners against a textbook Thompson sampler on a known environment, in process and without a database.

Each round one customer on channel web is shown one offer (recommend with limit 1) and clicks with the offer's
true rate, else dismisses (outcome weights +1 and -1). The cell learners rank through the same pure functions
recommend calls (scoring.learning.score_cells and rank) and learn as /respond's increments do (Cell.learned);
the textbook keeps a Beta(1, 1) posterior per offer and shows the highest draw. Every learner of a seed sees
the same clicks: the environment's random numbers are drawn per round from their own generator.
`manage.py simulate_learners` prints the table of docs/LEARNERS.md."""

from __future__ import annotations

import random
import statistics
from dataclasses import dataclass, field

from lifecycle.learners import DEFAULTS

from . import learning
from .choices import Direction, Scope

TEXTBOOK = "textbook_thompson"
CHECKPOINTS = (50, 200, 1000)


def click_rates(offers: int) -> list[float]:
    """The issue's environment: offers at 2% ... 10% and one at 15% (10 offers: 2, 3, ..., 10 and 15)."""
    if offers < 2:
        raise ValueError("at least two offers")
    rest = offers - 1
    return [round(0.02 + 0.08 * i / max(rest - 1, 1), 6) for i in range(rest)] + [0.15]


@dataclass
class Run:
    learner: str
    offers: int
    rounds: int
    seed: int
    reward: int = 0  # clicks
    regret: float = 0.0  # expected clicks lost against showing the best offer every round
    best_shown: int = 0
    shown: list[int] = field(default_factory=list)  # rounds each offer was shown
    all_shown_by: int | None = None  # the round by which every offer had been shown once
    unseen_at: dict[int, int] = field(default_factory=dict)  # offers never shown after that many rounds

    @property
    def best_share(self) -> float:
        return self.best_shown / self.rounds


class _Textbook:
    """Thompson sampling as the textbooks write it: Beta(1, 1) per offer, show the highest draw."""

    def __init__(self, offers: int, rng: random.Random):
        self.rng, self.wins, self.losses = rng, [0] * offers, [0] * offers

    def choose(self) -> int:
        draws = [self.rng.betavariate(1 + w, 1 + f) for w, f in zip(self.wins, self.losses)]
        return max(range(len(draws)), key=draws.__getitem__)

    def learn(self, i: int, click: bool) -> None:
        if click:
            self.wins[i] += 1
        else:
            self.losses[i] += 1


class _Cells:
    """A cell learner's state as the adaptation rows hold it, ranked by recommend's own functions."""

    def __init__(self, model_type: str, offers: int, rng: random.Random, params: dict | None = None):
        self.model_type, self.rng = model_type, rng
        self.params = {**DEFAULTS[model_type], **(params or {})}
        self.offer: list[learning.Cell | None] = [None] * offers
        self.shared: dict[str, learning.Cell | None] = {Scope.CHANNEL: None, Scope.DIRECTION: None, Scope.GLOBAL: None}
        self.names = {Scope.CHANNEL: "web", Scope.DIRECTION: Direction.INBOUND}

    def choose(self) -> int:
        candidates = [learning.Candidate({Scope.OFFER: cell, **self.shared}, self.names) for cell in self.offer]
        scored = learning.score_cells(self.model_type, self.params, candidates, self.rng)
        return learning.rank([s.key for s in scored], 1, self.rng)[0]

    def learn(self, i: int, click: bool) -> None:
        weight = 1.0 if click else -1.0  # the default outcome weights of click and dismiss
        empty = learning.Cell(0, 0.0, 0.0)
        self.offer[i] = (self.offer[i] or empty).learned(weight)
        for scope, cell in self.shared.items():
            self.shared[scope] = (cell or empty).learned(weight)


def simulate(learner: str, *, offers: int, rounds: int, seed: int, rates: list[float] | None = None) -> Run:
    rates = rates or click_rates(offers)
    best = max(range(len(rates)), key=rates.__getitem__)
    env = random.Random(f"clicks-{seed}")  # the same clicks for every learner of this seed
    rng = random.Random(seed)
    agent = _Textbook(len(rates), rng) if learner == TEXTBOOK else _Cells(learner, len(rates), rng)
    run = Run(learner, len(rates), rounds, seed, shown=[0] * len(rates))
    unseen = len(rates)
    for t in range(1, rounds + 1):
        i = agent.choose()
        click = env.random() < rates[i]
        agent.learn(i, click)
        if run.shown[i] == 0:
            unseen -= 1
            if unseen == 0:
                run.all_shown_by = t
        run.shown[i] += 1
        run.reward += click
        run.regret += rates[best] - rates[i]
        run.best_shown += i == best
        if t in CHECKPOINTS:
            run.unseen_at[t] = unseen
    return run


@dataclass(frozen=True)
class Summary:
    learner: str
    offers: int
    rounds: int
    runs: list[Run]

    def _values(self, name: str) -> list[float]:
        return [float(getattr(r, name)) for r in self.runs]

    def mean(self, name: str) -> float:
        return statistics.fmean(self._values(name))

    def sd(self, name: str) -> float:
        values = self._values(name)
        return statistics.stdev(values) if len(values) > 1 else 0.0

    @property
    def worst_all_shown_by(self) -> int | None:
        """The latest round by which every offer had been shown, over the seeds (None: some seed never did)."""
        rounds = [r.all_shown_by for r in self.runs]
        return None if None in rounds else max(rounds)

    def unseen_at(self, t: int) -> float:
        return statistics.fmean(r.unseen_at.get(t, 0) for r in self.runs)


def compare(*, offers: int, rounds: int, seeds: range | list[int],
            learners: tuple[str, ...] = (TEXTBOOK, *learning.CELL_LEARNERS)) -> dict[str, Summary]:
    return {name: Summary(name, offers, rounds, [simulate(name, offers=offers, rounds=rounds, seed=s) for s in seeds])
            for name in learners}


def table(summaries: list[dict[str, Summary]]) -> str:
    """The comparison as a Markdown table, one row per catalog and learner."""
    lines = ["| offers | learner | reward (clicks) | regret | best-offer share | every offer shown by (worst seed) "
             "| never shown after 50 / 200 rounds |",
             "|---:|---|---:|---:|---:|---:|---:|"]
    for by_learner in summaries:
        for s in by_learner.values():
            shown = s.worst_all_shown_by
            lines.append(
                f"| {s.offers} | {s.learner} | {s.mean('reward'):.1f} ± {s.sd('reward'):.1f} "
                f"| {s.mean('regret'):.1f} ± {s.sd('regret'):.1f} "
                f"| {s.mean('best_share'):.1%} ± {s.sd('best_share'):.1%} "
                f"| {'never' if shown is None else f'round {shown}'} "
                f"| {s.unseen_at(50):.2f} / {s.unseen_at(200):.2f} |")
    return "\n".join(lines)

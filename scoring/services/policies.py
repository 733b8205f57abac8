"""Suppression rules and contact policies: which candidates a customer may see again, and how many offers a
channel may still show them. Both count the customer's impressions with one grouped query per recommend."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Count, Max, Q
from django.utils import timezone

from lifecycle.core.errors import validation_error

from ..models import Channel, ContactPolicy, Impression, Interaction, Offer, SuppressionRule

DEFAULT_SUPPRESSION_OUTCOMES = ("accept", "decline")
MAX_POLICY_IMPRESSIONS = 1000  # a contact policy's cap per customer and window
MAX_RULE_IMPRESSIONS = 1_000_000  # a suppression rule's optional cap


def rule_problems(*, days: int | None = None, window_hours: int | None = None, max_impressions: int | None = None,
                  outcomes=None, offer=None, category=None, policy: bool = False) -> dict[str, str]:
    """What is wrong with a suppression rule or contact policy, by field: one sentence each, for the API's
    envelope and the catalog form alike."""
    problems = {}
    keep = settings.IMPRESSION_RETENTION_DAYS
    if days is not None and not 1 <= days <= keep:
        problems["days"] = f"days must be 1..{keep}: impressions are kept {keep} days (IMPRESSION_RETENTION_DAYS)"
    if window_hours is not None and not 1 <= window_hours <= keep * 24:
        problems["window_hours"] = (f"The window must be 1..{keep * 24} hours: impressions are kept {keep} days "
                                    "(IMPRESSION_RETENTION_DAYS)")
    if policy:
        if max_impressions is not None and not 0 <= max_impressions <= MAX_POLICY_IMPRESSIONS:
            problems["max_impressions"] = (f"At most impressions must be 0..{MAX_POLICY_IMPRESSIONS} "
                                           "(0 shows this channel nothing)")
        return problems
    if max_impressions is not None and not 1 <= max_impressions <= MAX_RULE_IMPRESSIONS:
        problems["max_impressions"] = f"At most impressions must be 1..{MAX_RULE_IMPRESSIONS:,}, or empty"
    if (offer is None) == (category is None):
        problems["offer"] = "Give an offer or a category (one of them), whose offers the rule suppresses"
    if outcomes is not None:
        if not isinstance(outcomes, list) or not all(isinstance(o, str) and o for o in outcomes):
            problems["outcomes"] = "outcomes must be a list of outcome type keys, e.g. [\"accept\", \"decline\"]"
        else:
            from .. import selectors
            known = set(selectors.outcome_type_list().values_list("key", flat=True))
            unknown = sorted(set(outcomes) - known)
            if unknown:
                problems["outcomes"] = f"Unknown outcome types: {', '.join(unknown)}"
    if not outcomes and not max_impressions:
        problems["outcomes"] = problems.get("outcomes") or ("The rule suppresses nothing: give outcomes (e.g. accept, "
                                                            "decline) or a maximum of impressions, or both")
    return problems


def check_rule(**kwargs) -> None:
    problems = rule_problems(**kwargs)
    if problems:
        name, message = next(iter(problems.items()))
        raise validation_error(message, field=name)


@dataclass
class Counts:
    """The customer's impressions inside each window the active rules ask about, by (offer, category, channel)."""

    rows: list[dict] = field(default_factory=list)

    def total(self, window: str, *, offer: str | None = None, category: str | None = None,
              channel: str | None = None) -> int:
        return sum(r[window] for r in self.rows
                   if (offer is None or r["offer_key"] == offer) and (category is None or r["category_key"] == category)
                   and (channel is None or r["channel"] == channel))


def _window(hours: int) -> str:
    return f"h{hours}"


def impression_counts(customer_id: str, hours: set[int], *, now) -> Counts:
    """One query: the customer's impressions grouped by offer, category and channel, counted once per window."""
    if not hours:
        return Counts()
    oldest = now - timedelta(hours=max(hours))
    aggregates = {_window(h): Count("id", filter=Q(created_at__gte=now - timedelta(hours=h))) for h in hours}
    rows = (Impression.objects.filter(customer_id=customer_id, created_at__gte=oldest)
            .values("offer_key", "category_key", "channel").annotate(**aggregates).order_by())
    return Counts(list(rows))


def active_rules() -> list[SuppressionRule]:
    return list(SuppressionRule.objects.filter(active=True).select_related("offer", "category"))


def active_policies(channel: Channel | None) -> list[ContactPolicy]:
    """The policies a recommend on this channel obeys: the channel's own and those for every channel."""
    q = Q(channel__isnull=True) | (Q(channel=channel) if channel else Q(pk__in=[]))
    return list(ContactPolicy.objects.filter(q, active=True).select_related("channel"))


def suppress(customer_id: str, offers: list[Offer], rules: list[SuppressionRule], *, now,
             counts: Counts | None = None, by_outcome: bool = True) -> tuple[list[Offer], list]:
    """The candidates no rule suppresses for this customer, and per suppressed offer the rule and why. Without
    `counts`, only what responses suppress (the impression caps are checked under the customer's lock, with
    `counts` from `locked_counts` and `by_outcome` False)."""
    if not rules or not offers:
        return offers, []
    outcomes = {o for r in rules for o in r.outcomes} if by_outcome else set()
    last = {}  # (offer key, outcome) -> latest response
    if outcomes:
        oldest = now - timedelta(days=max(r.days for r in rules if r.outcomes))
        for row in (Interaction.objects.filter(customer_id=customer_id, outcome__in=sorted(outcomes),
                                               timestamp__gte=oldest).exclude(offer_key="")
                    .values("offer_key", "outcome").annotate(last=Max("timestamp")).order_by()):
            last[(row["offer_key"], row["outcome"])] = row["last"]
    category_of = {}
    if last and any(r.category_id for r in rules):
        category_of = dict(Offer.objects.filter(key__in={k for k, _ in last}).values_list("key", "category__key"))
    kept, results = [], []
    for offer in offers:
        category = offer.category.key if offer.category_id else None
        reason = None
        for rule in rules:
            if rule.offer_id and rule.offer_id != offer.pk:
                continue
            if rule.category_id and (category is None or rule.category.key != category):
                continue
            since = now - timedelta(days=rule.days)
            for (key, outcome), at in last.items():
                same = key == offer.key if rule.offer_id else category_of.get(key) == category
                if same and outcome in rule.outcomes and at >= since:
                    reason = f"{outcome} on {key} within {rule.days} days"
                    break
            if reason is None and rule.max_impressions and counts is not None:
                shown = counts.total(_window(rule.days * 24), **({"offer": offer.key} if rule.offer_id
                                                                   else {"category": category}))
                if shown >= rule.max_impressions:
                    reason = f"shown {shown} times within {rule.days} days (at most {rule.max_impressions})"
            if reason:
                results.append({"offerId": offer.key, "rule": rule.key, "reason": reason})
                break
        if reason is None:
            kept.append(offer)
    return kept, results


def lock_customer(customer_id: str) -> None:
    """Serialise the contact-policy count and the impression insert of one customer's recommends (inside the
    caller's transaction). PostgreSQL: a transaction-scoped advisory lock; SQLite's IMMEDIATE transactions
    already serialise writers."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"impressions:{customer_id}"])


def locked_counts(customer_id: str, rules: list[SuppressionRule], policies: list[ContactPolicy], *,
                  now) -> Counts | None:
    """Lock the customer (see lock_customer) and count, in one grouped query, the impressions inside every window
    that the capped suppression rules and the contact policies ask about; None when none asks. Call inside the
    transaction that writes the impressions: the caps then hold against concurrent recommends."""
    hours = {r.days * 24 for r in rules if r.max_impressions} | {p.window_hours for p in policies}
    if not hours:
        return None
    lock_customer(customer_id)
    return impression_counts(customer_id, hours, now=now)


def contact_allowance(customer_id: str, policies: list[ContactPolicy], *, now,
                      counts: Counts | None = None) -> tuple[int | None, list]:
    """How many offers the policies still let this customer be shown (None: no limit), and per policy what it
    counted. Call inside the transaction that writes the impressions, with `counts` from locked_counts."""
    if not policies:
        return None, []
    if counts is None:
        counts = impression_counts(customer_id, {p.window_hours for p in policies}, now=now)
    allowance, results = None, []
    for policy in policies:
        used = counts.total(_window(policy.window_hours), channel=policy.channel.key if policy.channel_id else None)
        left = max(policy.max_impressions - used, 0)
        allowance = left if allowance is None else min(allowance, left)
        results.append({"policy": policy.key, "channel": policy.channel.key if policy.channel_id else None,
                        "maxImpressions": policy.max_impressions, "windowHours": policy.window_hours,
                        "used": used, "remaining": left})
    return allowance, results


def impressions_purge(*, now=None) -> int:
    cutoff = (now or timezone.now()) - timedelta(days=settings.IMPRESSION_RETENTION_DAYS)
    deleted, _ = Impression.objects.filter(created_at__lt=cutoff).delete()
    return deleted

"""Roles are groups with permissions; they exist after `migrate` (created on post_migrate)."""

from __future__ import annotations

ROLES = ("viewer", "analyst", "reviewer", "admin")
APPS = ("lifecycle", "registry", "scoring")

# Permission codenames per role, beyond every app's view_* permissions that all roles have.
ROLE_EXTRA_PERMISSIONS = {
    "viewer": set(),
    "analyst": {
        "lifecycle.add_algorithmmodel", "lifecycle.change_algorithmmodel", "lifecycle.train_algorithmmodel",
        "lifecycle.activate_version",
        "lifecycle.add_trait", "lifecycle.change_trait", "lifecycle.delete_trait", "lifecycle.add_sample",
        "lifecycle.delete_sample",
        "registry.promote_model", "registry.add_promotionrequest",
        "registry.add_experiment", "registry.change_experiment", "registry.delete_experiment",
        *(f"scoring.{verb}_{name}" for verb in ("add", "change", "delete")
          for name in ("offer", "category", "channel", "outcometype", "decisionflow", "suppressionrule",
                       "contactpolicy", "creative")),
    },
    # A reviewer applies a version change on a governed champion directly (an analyst's opens a request).
    "reviewer": {"registry.review_promotionrequest", "registry.rollback_family", "lifecycle.activate_version"},
    "admin": {"*"},
}

def ensure_roles(**_kwargs) -> None:
    from django.contrib.auth.models import Group, Permission

    perms = Permission.objects.filter(content_type__app_label__in=APPS).select_related("content_type")
    by_name = {f"{p.content_type.app_label}.{p.codename}": p for p in perms}
    views = [p for name, p in by_name.items() if name.split(".", 1)[1].startswith("view_")]
    for role in ROLES:
        group, _ = Group.objects.get_or_create(name=role)
        extra = ROLE_EXTRA_PERMISSIONS[role]
        wanted = list(by_name.values()) if "*" in extra else views + [by_name[n] for n in extra if n in by_name]
        group.permissions.set(wanted)


def role_of(user) -> str | None:
    if not getattr(user, "is_authenticated", False):
        return None
    if user.is_superuser:
        return "admin"
    names = {g.name for g in user.groups.all()}
    for role in reversed(ROLES):
        if role in names:
            return role
    return None

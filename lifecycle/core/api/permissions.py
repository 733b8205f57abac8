from rest_framework import permissions

from ..roles import role_of

VIEW_PERMISSION = "lifecycle.view_algorithmmodel"


class RolePermission(permissions.BasePermission):
    """Reads need the view permission; writes need the view's `write_permission` (an analyst's by default)."""

    def has_permission(self, request, view):
        user = request.user
        if not user or not user.is_authenticated:
            return False
        if not user.has_perm(VIEW_PERMISSION):
            self.message = "Your account has no role yet; ask an admin to give you one"
            return False
        if request.method in permissions.SAFE_METHODS:
            return True
        needed = getattr(view, "write_permissions", {}).get(getattr(view, "action", None)) or getattr(
            view, "write_permission", "lifecycle.change_algorithmmodel")
        if user.has_perm(needed):
            return True
        self.message = (f"Your role ({role_of(user) or 'none'}) cannot do this: it needs the permission "
                        f"{needed}, which analysts and admins have")
        return False

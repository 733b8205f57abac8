from .roles import role_of


def roles(request):
    user = getattr(request, "user", None)
    return {
        "role": role_of(user),
        "can_write": bool(user and user.has_perm("lifecycle.change_algorithmmodel")),
        "can_train": bool(user and user.has_perm("lifecycle.train_algorithmmodel")),
    }

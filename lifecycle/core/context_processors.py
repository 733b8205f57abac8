from .roles import role_of


def roles(request):
    user = getattr(request, "user", None)
    return {
        "role": role_of(user),
        "can_write": bool(user and user.has_perm("lifecycle.change_algorithmmodel")),
        "can_train": bool(user and user.has_perm("lifecycle.train_algorithmmodel")),
    }


# The value sets the pages compare with, by the name the templates use: `{% if model.state == State.READY %}`.
# Each app adds its own in AppConfig.ready() (register_choices), so the base names none of them.
_CHOICES: dict[str, type] = {}


def register_choices(**enums: type) -> None:
    """Offer each Choices class to every template under its name. Registering the same class again is a no-op
    (ready() may run more than once); a name already taken by another class is a mistake and raises."""
    for name, enum in enums.items():
        if _CHOICES.get(name, enum) is not enum:
            raise ValueError(f"Templates already know {name!r} as {_CHOICES[name].__qualname__}")
        _CHOICES[name] = enum


def choices(request):
    """The registered Choices classes, for every page (Django's Choices are never called by a template, so
    `State.READY` reads as the member). Names only, no query: an error page gets them too."""
    return dict(_CHOICES)

"""The import directions of docs/ARCHITECTURE.md, checked on the source: scoring -> registry -> lifecycle ->
lifecycle.core, never up, and no two modules that import each other (directly or round a loop). Every import
counts, also those inside functions, since a late import still ties the two modules together."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APPS = ("lifecycle", "registry", "scoring")
TEMPLATES = ROOT / "templates"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for app in APPS for path in sorted((ROOT / app).rglob("*.py"))}


MODULES = _modules()


def _known(name: str) -> str:
    """The module of ours that an imported name lands in: the longest known prefix (`a.b.C` is in `a.b`)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name


def _imports(module: str, path: Path) -> set[str]:
    """Every module of ours that `module` imports, anywhere in its body, relative imports resolved."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(_known(alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module
            # `from pkg import mod` imports the module pkg.mod; `from mod import name` imports mod.
            found.update(_known(f"{source}.{alias.name}") for alias in node.names)
    found.discard("")
    found.discard(module)
    return found


GRAPH = {module: _imports(module, path) for module, path in MODULES.items()}


def _app(module: str) -> str:
    return module.split(".")[0]


def test_the_walk_sees_every_app_and_late_imports():
    assert {_app(m) for m in MODULES} == set(APPS)
    # registry/apps.py imports its services inside ready(): a late import is an edge too.
    assert "registry.services" in GRAPH["registry.apps"]
    assert "lifecycle.core.errors" in GRAPH["lifecycle.core.api.errors"]  # `from ..errors import`, resolved


def test_lifecycle_imports_neither_registry_nor_scoring():
    upward = sorted(f"{m} -> {t}" for m, targets in GRAPH.items() if _app(m) == "lifecycle"
                    for t in targets if _app(t) in ("registry", "scoring"))
    assert upward == []


def test_registry_does_not_import_scoring():
    upward = sorted(f"{m} -> {t}" for m, targets in GRAPH.items() if _app(m) == "registry"
                    for t in targets if _app(t) == "scoring")
    assert upward == []


def test_lifecycle_core_knows_no_domain_module():
    # The one exception is lifecycle.models, for the API token model that token authentication looks up.
    outside = sorted(f"{m} -> {t}" for m, targets in GRAPH.items() if m.startswith("lifecycle.core")
                     for t in targets if not (t == "lifecycle.core" or t.startswith("lifecycle.core."))
                     and t not in ("lifecycle", "lifecycle.models") and _app(t) in APPS)
    assert outside == []


def test_tag_libraries_import_no_views():
    # A tag builds what it shows from selectors; importing an app's views would tie every template to them.
    # (lifecycle.core.views, the shared refusal sentence, is the base's and allowed.)
    offenders = sorted(f"{m} -> {t}" for m, targets in GRAPH.items() if ".templatetags." in m
                       for t in targets if t in {f"{app}.views" for app in APPS})
    assert offenders == []


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in graph:
                    continue
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(sorted(component))
    return sorted(components)


def test_the_cycle_finder_finds_a_loop():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_two_modules_import_each_other():
    assert _cycles(GRAPH) == []


# ------------------------------------------------------------------ templates: a lower app composes, never names


def _naming(*apps: str) -> re.Pattern:
    """A template that names a template, the tag library or a URL of one of `apps`."""
    names = "|".join(apps)
    return re.compile(
        rf"\b(?:{names})/"                                  # one of their templates (also in a comment)
        rf"|\b(?:{names})_tags\b"                            # their tag libraries
        rf"""|\{{%\s*url\s+["'](?:{names}):""")              # their URLs


UPWARD_IN_TEMPLATES = _naming("registry", "scoring")
# Each folder of templates and the apps above its own: what the folder's pages show of those comes in panels.
ABOVE = {"lifecycle": ("registry", "scoring"), "dashboard": ("registry", "scoring"), "registry": ("scoring",)}


def test_the_template_check_catches_each_kind_of_name():
    for text in ('{% include "scoring/partials/model_tabs.html" %}', "{% load humanize registry_tags %}",
                 "{% url 'registry:audit-log' %}", '{% url "scoring:model-try" model.key %}'):
        assert UPWARD_IN_TEMPLATES.search(text), text
    assert not UPWARD_IN_TEMPLATES.search('{% panels "model_main" model %}{% url "lifecycle:home" %}')
    # The registry's own names are the registry's pages' business; scoring's are not.
    for text in ('{% include "scoring/partials/live_weights.html" %}', "{% load scoring_tags %}",
                 "{% url 'scoring:model-shadow' m.key %}"):
        assert _naming("scoring").search(text), text
    assert not _naming("scoring").search('{% include "registry/partials/watch_badge.html" %}{% load registry_tags %}'
                                         "{% url 'registry:family-detail' family %}")


@pytest.mark.parametrize("folder", sorted(ABOVE))
def test_templates_name_no_template_tag_or_url_of_an_app_above(folder):
    upward = _naming(*ABOVE[folder])
    offenders = [f"{path.relative_to(TEMPLATES)}:{text[:m.start()].count(chr(10)) + 1}: {m.group(0)}"
                 for path in sorted((TEMPLATES / folder).rglob("*.html")) for text in [path.read_text()]
                 for m in upward.finditer(text)]
    assert offenders == []

"""The import structure of jvp/ (issue 12): layers only import downwards, there are no import cycles, and
services reach nodes only through the gateway's typed methods.

Layers, lowest first (a module may import its own layer and the ones below):
  0 base       jvp.errors, jvp.timeutil, jvp.settings, jvp.domain (typed views, specs, the error table)
  1 adapters   jvp.hypervisor, jvp.store, jvp.images, jvp.cloudinit, jvp.hostnet, jvp.demo, jvp.metrics
  2 service    jvp.service
  3 api        jvp.api
  4 entry      jvp.app (the composition root), jvp.cli, jvp.server, jvp.diagnose

Every import counts, also the ones inside functions: a cycle hidden in a function is still a cycle.
"""
from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "jvp"

LAYERS = [
    ("base", ("jvp.errors", "jvp.timeutil", "jvp.settings", "jvp.domain")),
    ("adapters", ("jvp.hypervisor", "jvp.store", "jvp.images", "jvp.cloudinit", "jvp.hostnet", "jvp.demo",
                  "jvp.metrics")),
    ("service", ("jvp.service",)),
    ("api", ("jvp.api",)),
    ("entry", ("jvp.app", "jvp.cli", "jvp.server", "jvp.diagnose", "jvp.__main__")),
]

# What a service may import from the hypervisor package: the gateway only (it re-exports the few types
# services need). Services never hold a connection, a libvirt object or an lxml element.
SERVICE_MAY_IMPORT = ("jvp.hypervisor.gateway",)

# Service modules still being moved onto the gateway (issue 12): each entry is a debt, to be emptied.
SERVICE_GATEWAY_DEBT: set[str] = set()
# Import cycles being untangled (issue 12): to be emptied.
KNOWN_CYCLES: list[list[str]] = [
]


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


@lru_cache(maxsize=1)
def modules() -> dict[str, Path]:
    return {module_name(p): p for p in PKG.rglob("*.py")}


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The jvp modules `name` imports (resolved to modules, not names inside them)."""
    tree = ast.parse(path.read_text(), str(path))
    is_pkg = path.name == "__init__.py"
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base[: len(base) - node.level + (1 if is_pkg else 0)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            targets = [f"{mod}.{a.name}" for a in node.names] + [mod]
        else:
            continue
        for t in targets:
            while t and t not in known:
                t = t.rpartition(".")[0]
            if t and t.startswith("jvp") and t != name:
                out.add(t)
    # importing a.b.c also runs a and a.b: only the module named counts as the edge
    return {t for t in out if not any(o != t and o.startswith(t + ".") for o in out) or t in known}


@lru_cache(maxsize=1)
def graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {n: imports_of(n, p, known) for n, p in mods.items()}


def layer_of(mod: str) -> int:
    for i, (_, prefixes) in enumerate(LAYERS):
        if any(mod == p or mod.startswith(p + ".") for p in prefixes):
            return i
    if mod == "jvp":
        return 0
    raise AssertionError(f"{mod} belongs to no layer: add it to LAYERS in {__file__}")


def test_every_module_has_a_layer():
    for mod in modules():
        layer_of(mod)


def test_no_module_imports_from_a_higher_layer():
    bad = []
    for mod, deps in graph().items():
        for dep in deps:
            if dep == "jvp" or mod == "jvp":
                continue
            if layer_of(dep) > layer_of(mod):
                bad.append(f"{mod} ({LAYERS[layer_of(mod)][0]}) imports {dep} ({LAYERS[layer_of(dep)][0]})")
    assert not bad, "\n".join(sorted(bad))


def strongly_connected(g: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm; components of more than one module are import cycles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in g.get(v, ()):
            if w not in g:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles():
    g = graph()
    # a package's __init__ re-exporting its own modules is not a cycle of ideas: drop package -> child edges
    g = {m: {d for d in deps if not d.startswith(m + ".")} for m, deps in g.items()}
    cycles = [c for c in strongly_connected(g) if c not in KNOWN_CYCLES]
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_the_cycle_finder_finds_cycles():
    assert strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert strongly_connected({"a": {"b"}, "b": set()}) == []


def gateway_problems(mod: str) -> list[str]:
    problems = []
    hv = sorted(d for d in graph()[mod] if d.startswith("jvp.hypervisor") and not d.startswith(SERVICE_MAY_IMPORT))
    if hv:
        problems.append(f"{mod} imports {hv}: call a typed method of jvp.hypervisor.gateway instead")
    src = modules()[mod].read_text()
    for raw in ("nodes.call(", ".call_mapped(", "run_raw(", "nodes.connection(", "import libvirt", "lxml"):
        if raw in src:
            problems.append(f"{mod} uses {raw!r}: add a typed gateway method instead")
    return problems


@pytest.mark.parametrize("mod", sorted(m for m in modules() if m.startswith("jvp.service")))
def test_services_reach_nodes_only_through_the_gateway(mod):
    """No service imports a hypervisor module other than the gateway, or uses a raw connection."""
    problems = gateway_problems(mod)
    if mod in SERVICE_GATEWAY_DEBT:
        assert problems, f"{mod} is on the gateway now: remove it from SERVICE_GATEWAY_DEBT"
        pytest.xfail("; ".join(problems))
    assert not problems, "\n".join(problems)


def test_the_debt_lists_hold_only_real_debt():
    """An entry that was paid off must leave the list (so the lists only ever shrink)."""
    assert SERVICE_GATEWAY_DEBT <= set(modules())
    g = {m: {d for d in deps if not d.startswith(m + ".")} for m, deps in graph().items()}
    current = strongly_connected(g)
    assert [c for c in KNOWN_CYCLES if c not in current] == []

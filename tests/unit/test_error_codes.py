"""The one code table (jvp/domain/errors.py) against the code: every code jvp/ can produce is in it, with the
status it is raised with; every entry is produced somewhere; every action's declared errors are in it;
README's generated tables are current.

The scan (tests/unit/error_scan.py) is static: it follows code literals, helper parameters, derived
`<Kind>NotFound`/`<Kind>Exists` codes and the libvirt table. What it cannot resolve is listed in
KNOWN_UNRESOLVED with the reason; a new unresolved site fails until it is looked at. Whether an action
declares every code it can raise is checked dynamically in the API tier (tests/conftest.py, ApiClient), for
the error paths the API tests exercise.
"""
from __future__ import annotations

import ast
import importlib
import textwrap
from pathlib import Path

import pytest

from jvp.domain.errors import ERRORS, GENERIC
from jvp.domain.errors_markdown import markdown
from tests.unit.error_scan import REPO, Scanner, scan

# The source text of the code sites the scan cannot resolve (wherever they are: files move), and why each is
# fine. A new kind of dynamic code site fails the test until it is added here or made a literal.
KNOWN_UNRESOLVED = {
    "exc.code": "passes on the code of a JvpError raised elsewhere (error_body(), a listing's errors[])",
    "self.code": "JvpError.to_dict() passes on the instance's own code",
    "exc.get_error_code()": "libvirt's numeric code, kept in details.libvirt_error",
    "self.console_ended()": "a websocket close code (an int), not an error code",
    "already_exists('storage_pool', name, node, **exc.details)":
        "details of a libvirt error (no `code` key) passed through; the code is StoragePoolExists",
    "err['code']": "the metrics collector keeps a node's listing error (from the gateway's fan-out) in the store",
    "doc['code']": "list-vm-usage passes on the node's listing error the collector stored",
    "c": "OpenAPI's examples of the table's own codes (jvp/api/openapi.py)",
    "gone.code": "the events stream's node message passes on the health memory's code (NodeUnreachable/NodeTimeout)",
    "err.get('code')": "the events stream's task message passes on the failed task's recorded error code",
}


@pytest.fixture(scope="module")
def scanned():
    return scan()


def _actions():
    from jvp.api.actions import registry
    from jvp.app import API_MODULES
    for name in API_MODULES:
        importlib.import_module(f"jvp.api.{name}")
    return registry.all()


def test_every_code_jvp_can_raise_is_in_the_table(scanned):
    missing = {code: sorted(f"{s.path}:{s.line}" for s in sites)
               for code, sites in scanned.codes.items() if code not in ERRORS}
    assert not missing, f"codes raised in jvp/ but not in jvp/domain/errors.py: {missing}"


def test_every_code_in_the_table_is_raised_somewhere(scanned):
    dead = sorted(set(ERRORS) - set(scanned.codes))
    assert not dead, f"codes in jvp/domain/errors.py that nothing in jvp/ raises: {dead}"


def test_the_scan_resolves_every_code_site_but_the_known_ones(scanned):
    unresolved = {s.text for s in scanned.unresolved}
    new = sorted(f"{s.path}:{s.line}: {s.text}" for s in scanned.unresolved if s.text not in KNOWN_UNRESOLVED)
    assert not new, ("error-code sites the scan cannot follow: use a literal code (or a helper whose `code` "
                     f"parameter gets literals), or add the site to KNOWN_UNRESOLVED with the reason: {new}")
    gone = sorted(set(KNOWN_UNRESOLVED) - unresolved)
    assert not gone, f"KNOWN_UNRESOLVED lists sites that no longer exist: {gone}"


def test_the_scan_finds_codes_of_every_shape(tmp_path):
    """The scan is real: an unknown code in any of the shapes JVP uses is found (so the tests above fail)."""
    pkg = tmp_path / "jvp"
    pkg.mkdir()
    (pkg / "errors.py").write_text(textwrap.dedent('''
        class JvpError(Exception):
            code = "BogusDefault"
        class Gizmo(JvpError):
            code, status = "BogusClass", 409
        def not_found(kind, name, node=None, *, code=None):
            code = code or "".join(p.capitalize() for p in kind.split("_")) + "NotFound"
            return JvpError(name, code=code)
    '''))
    (pkg / "svc.py").write_text(textwrap.dedent('''
        from jvp.errors import JvpError, not_found
        TABLE = {1: ("BogusTable", 404)}
        TABLE.update({2: ("BogusTableUpdate", 409)})
        def _bad(code, field, message):
            return JvpError(message, code=code)
        class Svc:
            def call(self, node, fn, *, kind=None):
                return map_error(kind)
            def get(self, x):
                self.call("n", None, kind="flux_capacitor")
                code = "BogusIf" if x else {1: "BogusGet"}.get(x, "BogusDefaultGet")
                raise JvpError("m", code=code)
        def map_error(kind):
            jvp_code, status = TABLE[kind]
            return JvpError("m", code=jvp_code if kind is None else
                            "".join(p.capitalize() for p in kind.split("_")) + "NotFound")
        def f(x):
            raise _bad("BogusHelper", "field", "msg")
        def g():
            raise not_found("gizmo_part", "x")
        def h():
            return {"code": "BogusDict", "message": "m"}
        def i(x):
            raise JvpError("m", code=x.attr)
    '''))
    res = Scanner(tmp_path).scan()
    assert {"BogusDefault", "BogusClass", "BogusTable", "BogusTableUpdate", "BogusHelper", "GizmoPartNotFound",
            "FluxCapacitorNotFound", "BogusIf", "BogusGet", "BogusDefaultGet", "BogusDict"} <= set(res.codes)
    assert ("jvp/svc.py", "x.attr") in {(s.path, s.text) for s in res.unresolved}


def _class_statuses(scanner: Scanner) -> dict[str, int]:
    """The status of every JvpError class in jvp/ (its own `status`, or its base's)."""
    classes: dict[str, tuple[int | None, list[str]]] = {}
    for mod in scanner.modules:
        for node in ast.walk(mod.tree):
            if isinstance(node, ast.ClassDef):
                status = None
                for stmt in node.body:
                    if isinstance(stmt, ast.Assign):
                        for target in stmt.targets:
                            names = target.elts if isinstance(target, ast.Tuple) else [target]
                            for i, n in enumerate(names):
                                if isinstance(n, ast.Name) and n.id == "status":
                                    v = stmt.value.elts[i] if isinstance(target, ast.Tuple) else stmt.value
                                    status = v.value if isinstance(v, ast.Constant) else None
                bases = [b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases]
                classes[node.name] = (status, bases)
    resolved: dict[str, int] = {}

    def status_of(name: str, depth: int = 0) -> int | None:
        if name in resolved or name not in classes or depth > 20:
            return resolved.get(name)
        own, bases = classes[name]
        value = own if own is not None else next((s for b in bases if (s := status_of(b, depth + 1))), None)
        if value is not None:
            resolved[name] = value
        return value
    for name in classes:
        status_of(name)
    resolved.update({"not_found": 404, "already_exists": 409})
    return resolved


def test_literal_codes_are_raised_with_the_status_of_the_table():
    """`SomeError(..., code="X")` and `code = "X"` in an error class: the status (the class's, or an explicit
    `status=`) is one the table gives X. Codes passed through helpers are checked in the API tier."""
    scanner = Scanner()
    statuses = _class_statuses(scanner)
    wrong = []
    for mod in scanner.modules:
        for node in ast.walk(mod.tree):
            sites = []
            if isinstance(node, ast.Call):
                fn = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
                code = next((k.value.value for k in node.keywords if k.arg == "code"
                             and isinstance(k.value, ast.Constant) and isinstance(k.value.value, str)), None)
                explicit = next((k.value.value for k in node.keywords if k.arg == "status"
                                 and isinstance(k.value, ast.Constant)), None)
                status = explicit or statuses.get(fn)
                if code and status:
                    sites.append((code, status))
            elif isinstance(node, ast.ClassDef) and node.name in statuses:
                for stmt in node.body:
                    if isinstance(stmt, ast.Assign):
                        for target in stmt.targets:
                            names = target.elts if isinstance(target, ast.Tuple) else [target]
                            for i, n in enumerate(names):
                                v = stmt.value.elts[i] if isinstance(target, ast.Tuple) else stmt.value
                                if isinstance(n, ast.Name) and n.id == "code" and isinstance(v, ast.Constant):
                                    sites.append((v.value, statuses[node.name]))
            for code, status in sites:
                if code in ERRORS and status not in ERRORS[code].statuses:
                    wrong.append(f"{mod.rel}:{node.lineno}: {code} raised with {status}, the table says "
                                 f"{ERRORS[code].statuses}")
    assert not wrong, "\n".join(wrong)


def test_the_libvirt_table_maps_to_the_statuses_of_the_code_table():
    from jvp.hypervisor.errors import TABLE
    wrong = [(code, status) for code, status in TABLE.values() if status not in ERRORS[code].statuses]
    assert not wrong


def test_every_declared_error_is_in_the_table():
    unknown = {a.name: sorted(set(a.errors) - set(ERRORS)) for a in _actions() if set(a.errors) - set(ERRORS)}
    assert not unknown, f"actions declare codes that jvp/domain/errors.py does not know: {unknown}"


def test_declarations_name_each_code_once():
    twice = {a.name: sorted({c for c in a.errors if a.errors.count(c) > 1}) for a in _actions()
             if len(set(a.errors)) != len(a.errors)}
    assert not twice, twice


def test_generic_codes_are_the_ones_the_http_layer_and_every_action_can_answer():
    assert {"ValidationFailed", "Unauthorized", "Forbidden", "NodeNotFound", "NodeUnreachable", "InternalError",
            "MetadataLocked", "MetadataCorrupt", "UnknownAction", "InvalidJson", "PayloadTooLarge"} <= GENERIC
    assert not GENERIC & {"VmNotFound", "VolumeInUse", "TemplateExists"}


def test_readme_error_tables_are_generated_from_the_table():
    from jvp.api.error_docs import README, render_readme
    text = README.read_text()
    assert "<!-- errors:all " in text, "README lost its generated error table"
    assert render_readme(text) == text, ("README.md's error tables differ from jvp/domain/errors.py: run "
                                         "python -m jvp.api.error_docs --write-readme")


def test_markdown_has_one_row_per_code():
    rows = [line for line in markdown().splitlines()[2:] if line.startswith("| `")]
    assert len(rows) == len(ERRORS)
    assert "| `ValidationFailed` | 400 |" in markdown()


def test_openapi_lists_each_declared_error_with_its_status_and_meaning():
    from jvp.api.actions import registry
    from jvp.api.openapi import build_spec
    actions = _actions()
    spec = build_spec(registry)
    for action in actions:
        op = spec["paths"][f"/api/{action.name}"]["post"]
        assert op.get("x-jvp-errors", []) == list(action.errors)
        for code in action.errors:
            example = op["responses"][str(ERRORS[code].status)]["content"]["application/json"]["examples"][code]
            assert example["summary"] == ERRORS[code].meaning
    assert spec["x-jvp-error-codes"]["VmNotFound"] == {"status": 404, "meaning": ERRORS["VmNotFound"].meaning,
                                                       "generic": False}


def test_scan_root_is_the_repository():
    assert (REPO / "jvp" / "domain" / "errors.py").is_file()
    assert Path(__file__).resolve().is_relative_to(REPO)

"""A static scan of jvp/ for every error code the code can produce.

It follows the ways a code gets into a JvpError (or into an error dict of a task or a partial listing):

- a literal: `code="X"` in any call, `code = "X"` / `code, status = "X", 4xx` in a class body,
  `{"code": "X"}` in a dict literal;
- through a name: `code = "A" if ... else "B"`, `code = {404: "A"}.get(s, "B")`, a variable assigned a literal
  in the same function or module, `X or Y` (both sides), a subscript of a module-level table
  (`jvp_code, status = TABLE[...]` collects every string of TABLE and of the tables it is built from);
- through a parameter: `def _bad(code, field, message)` with `code=code` inside makes every call site of
  `_bad` (by name, across jvp/) a source: its positional or keyword argument, or the parameter's default;
- derived: `"".join(p.capitalize() for p in kind.split("_")) + "NotFound"` (not_found(), already_exists(),
  map_libvirt_error()) resolves `kind` the same way (through `nodes.call(..., kind="vm")` and the like) and
  camel-cases it.

Whatever it cannot resolve is reported as `unresolved` with its file and source text; the test keeps an
explicit list of the known ones (libvirt's numeric codes, `exc.code` passed on, ...) so a new dynamic code
site fails until someone looks at it. What it cannot see: codes built by string formatting of runtime data
other than the patterns above, and call sites that reach a code-forwarding function under another name
(an alias or a callback); both are listed as unresolved where the scan meets them.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Site:
    path: str
    line: int
    text: str


@dataclass
class ScanResult:
    codes: dict[str, set[Site]] = field(default_factory=dict)
    unresolved: set[Site] = field(default_factory=set)

    def add(self, code: str, site: Site) -> None:
        self.codes.setdefault(code, set()).add(site)


def _camel(kind: str) -> str:
    return "".join(p.capitalize() for p in kind.split("_"))


def _apply(value: str, suffixes: tuple[str, ...]) -> str:
    """A derived code: each suffix camel-cases what it gets and appends itself (`vm` -> `VmNotFound`)."""
    for suffix in suffixes:
        value = _camel(value) + suffix
    return value


class _Module:
    def __init__(self, path: Path, rel: str):
        self.rel = rel
        self.tree = ast.parse(path.read_text(), filename=rel)
        self.parent: dict[ast.AST, ast.AST] = {}
        self.imports: list[ast.AST] | None = None
        for node in ast.walk(self.tree):
            for child in ast.iter_child_nodes(node):
                self.parent[child] = node

    def scope_of(self, node: ast.AST) -> ast.AST:
        """The innermost function (or the module) containing `node`."""
        cur = self.parent.get(node)
        while cur is not None and not isinstance(cur, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            cur = self.parent.get(cur)
        return cur if cur is not None else self.tree


def _own_nodes(scope: ast.AST):
    """The nodes of a scope, not descending into nested functions or classes."""
    stack = list(ast.iter_child_nodes(scope))
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            stack.extend(ast.iter_child_nodes(node))


def _params(fn: ast.AST) -> list[ast.arg]:
    a = fn.args
    return [*a.posonlyargs, *a.args, *a.kwonlyargs]


def _default(fn: ast.AST, name: str) -> ast.AST | None:
    a = fn.args
    positional = [*a.posonlyargs, *a.args]
    for arg, default in zip(positional[len(positional) - len(a.defaults):], a.defaults):
        if arg.arg == name:
            return default
    for arg, default in zip(a.kwonlyargs, a.kw_defaults):
        if arg.arg == name:
            return default
    return None


def _func_name(call: ast.Call) -> str | None:
    f = call.func
    if isinstance(f, ast.Name):
        return f.id
    if isinstance(f, ast.Attribute):
        return f.attr
    return None


class Scanner:
    def __init__(self, root: Path = REPO, package: str = "jvp"):
        self.modules = [_Module(p, str(p.relative_to(root))) for p in sorted((root / package).rglob("*.py"))]
        self.result = ScanResult()
        self._functions: dict[str, list[tuple[_Module, ast.AST]]] = {}
        self._calls: dict[str, list[tuple[_Module, ast.Call]]] = {}
        for mod in self.modules:
            for node in ast.walk(mod.tree):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    self._functions.setdefault(node.name, []).append((mod, node))
                elif isinstance(node, ast.Call) and _func_name(node):
                    self._calls.setdefault(_func_name(node), []).append((mod, node))
        self._followed: set[tuple[str, int, str]] = set()

    # -- resolution ------------------------------------------------------------------------------------
    def _site(self, mod: _Module, node: ast.AST) -> Site:
        return Site(mod.rel, getattr(node, "lineno", 0), ast.unparse(node))

    def resolve(self, mod: _Module, expr: ast.AST | None, transform: tuple[str, ...] = ()) -> None:
        """Add every string `expr` can hold (after `transform`) to the result; record what stays unknown."""
        if expr is None:
            return
        if isinstance(expr, ast.Constant):
            if isinstance(expr.value, str):
                self.result.add(_apply(expr.value, transform), self._site(mod, expr))
            return  # None, ints: not a code
        if isinstance(expr, ast.IfExp):
            self.resolve(mod, expr.body, transform)
            self.resolve(mod, expr.orelse, transform)
            return
        if isinstance(expr, ast.BoolOp):
            for value in expr.values:
                self.resolve(mod, value, transform)
            return
        if (isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute) and expr.func.attr == "get"
                and isinstance(expr.func.value, ast.Dict)):
            for value in expr.func.value.values:
                self.resolve(mod, value, transform)
            if len(expr.args) > 1:
                self.resolve(mod, expr.args[1], transform)
            return
        if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add) and isinstance(expr.right, ast.Constant) \
                and isinstance(expr.right.value, str):
            kind = self._camel_case_source(expr.left)
            if kind is not None:
                self.resolve(mod, kind, (expr.right.value, *transform))
                return
        if isinstance(expr, ast.Subscript) and isinstance(expr.value, ast.Name):
            if self._resolve_table(mod, expr.value.id, transform):
                return
        if isinstance(expr, ast.Name):
            self._resolve_name(mod, expr, transform)
            return
        self.result.unresolved.add(self._site(mod, expr))

    @staticmethod
    def _camel_case_source(expr: ast.AST) -> ast.AST | None:
        """`"".join(p.capitalize() for p in kind.split("_"))` -> the `kind` expression."""
        if not (isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute) and expr.func.attr == "join"
                and expr.args and isinstance(expr.args[0], ast.GeneratorExp)):
            return None
        it = expr.args[0].generators[0].iter
        if isinstance(it, ast.Call) and isinstance(it.func, ast.Attribute) and it.func.attr == "split":
            return it.func.value
        return None

    def _resolve_table(self, mod: _Module, name: str, transform, seen: frozenset = frozenset()) -> bool:
        """Every string value of a module-level table `name` (and of the tables it is built from)."""
        stmts = []
        for stmt in mod.tree.body:
            if isinstance(stmt, (ast.Assign, ast.AnnAssign)):
                targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                    stmts.append(stmt.value)
            elif (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)
                  and isinstance(stmt.value.func, ast.Attribute) and stmt.value.func.attr == "update"
                  and isinstance(stmt.value.func.value, ast.Name) and stmt.value.func.value.id == name):
                stmts.extend(stmt.value.args)
        if not stmts:
            return False
        for value in stmts:
            for node in ast.walk(value):
                if isinstance(node, ast.Dict):
                    for v in node.values:
                        target = v.elts[0] if isinstance(v, ast.Tuple) else v
                        if isinstance(target, ast.Constant) and isinstance(target.value, str):
                            self.result.add(_apply(target.value, transform), self._site(mod, target))
                elif isinstance(node, ast.Name) and node.id != name and node.id not in seen:
                    self._resolve_table(mod, node.id, transform, seen | {name})
        return True

    def _resolve_name(self, mod: _Module, expr: ast.Name, transform) -> None:
        scope = mod.scope_of(expr)
        key = (mod.rel, id(scope), expr.id, transform)
        if key in self._followed:  # `code = code or ...`, or a name met before: already (being) resolved
            return
        self._followed.add(key)
        while True:
            is_param = not isinstance(scope, ast.Module) and expr.id in {p.arg for p in _params(scope)}
            values = [v for v in self._assigned(scope, expr.id) if v is not expr]
            if is_param:
                self._resolve_param(mod, scope, expr.id, transform)
            for value in values:  # `code = code or <derived>`: the parameter and what the body makes of it
                self.resolve(mod, value, transform)
            if is_param or values:
                return
            if isinstance(scope, ast.Module):
                break
            scope = mod.scope_of(scope)  # a closure's free variable: look in the enclosing function
        self.result.unresolved.add(self._site(mod, expr))

    @staticmethod
    def _assigned(scope: ast.AST, name: str):
        for node in _own_nodes(scope):
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name) and target.id == name:
                        yield node.value
                    elif isinstance(target, ast.Tuple):
                        for i, elt in enumerate(target.elts):
                            if isinstance(elt, ast.Name) and elt.id == name:
                                yield node.value.elts[i] if isinstance(node.value, ast.Tuple) else node.value
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) \
                    and node.target.id == name and node.value is not None:
                yield node.value

    def _resolve_param(self, mod: _Module, fn: ast.AST, param: str, transform) -> None:
        """A code that arrives as a parameter: the default, and what every call site of `fn` passes."""
        if isinstance(fn, ast.Lambda):
            self.result.unresolved.add(self._site(mod, fn))
            return
        key = (mod.rel, fn.lineno, param, transform)
        if key in self._followed:
            return
        self._followed.add(key)
        self.resolve(mod, _default(fn, param), transform)
        positional = [p.arg for p in [*fn.args.posonlyargs, *fn.args.args]]
        is_method = bool(positional) and positional[0] in ("self", "cls")
        index = positional.index(param) if param in positional else None
        if index is not None and is_method:
            index -= 1
        for call_mod, call in self._calls.get(fn.name, []):
            if not self._may_call(call_mod, call, mod, fn, is_method):
                continue
            kw = next((k for k in call.keywords if k.arg == param), None)
            if kw is not None:
                self.resolve(call_mod, kw.value, transform)
            elif index is not None and index < len(call.args):
                arg = call.args[index]
                if isinstance(arg, ast.Starred):
                    self.result.unresolved.add(self._site(call_mod, call))
                else:
                    self.resolve(call_mod, arg, transform)
            elif any(k.arg is None for k in call.keywords):
                self.result.unresolved.add(self._site(call_mod, call))  # **kwargs may carry it

    def _may_call(self, call_mod: _Module, call: ast.Call, def_mod: _Module, fn: ast.AST, is_method: bool) -> bool:
        """Whether `call` can reach `fn`: the name is in reach (same module, imported, a method called on an
        object) and the call fits the signature (its positional count, its keywords)."""
        nested = not isinstance(def_mod.scope_of(fn), ast.Module) or (
            not is_method and isinstance(def_mod.parent.get(fn), ast.ClassDef))
        if nested and call_mod is not def_mod:
            return False
        if isinstance(call.func, ast.Name):
            if is_method:
                return False
            if call_mod is not def_mod and not self._imports(call_mod, def_mod, fn.name):
                return False
        elif is_method:
            value = call.func.value
            if isinstance(value, ast.Name) and value.id in ("self", "cls"):
                if call_mod is not def_mod or self._class_of(call_mod, call) is not def_mod.parent.get(fn):
                    return False  # self.f() reaches the f of its own class
            elif fn.name.startswith("_") and call_mod is not def_mod:
                return False
        else:
            value = call.func.value
            if not (isinstance(value, ast.Name) and self._imports(call_mod, def_mod, value.id, module=True)):
                return False
        a = fn.args
        positional = len(a.posonlyargs) + len(a.args) - (1 if is_method else 0)
        if a.vararg is None and len([x for x in call.args if not isinstance(x, ast.Starred)]) > positional:
            return False
        accepted = {p.arg for p in _params(fn)}
        return a.kwarg is not None or all(k.arg is None or k.arg in accepted for k in call.keywords)

    @staticmethod
    def _class_of(mod: _Module, node: ast.AST) -> ast.AST | None:
        cur = mod.parent.get(node)
        while cur is not None and not isinstance(cur, ast.ClassDef):
            cur = mod.parent.get(cur)
        return cur

    def _imports(self, call_mod: _Module, def_mod: _Module, name: str, module: bool = False) -> bool:
        """`from <def_mod> import name` (or, with module=True, `name` bound to def_mod itself)."""
        dotted = def_mod.rel[:-3].replace("/", ".").removesuffix(".__init__")
        parent, _, last = dotted.rpartition(".")
        if call_mod.imports is None:
            call_mod.imports = [n for n in ast.walk(call_mod.tree) if isinstance(n, (ast.Import, ast.ImportFrom))]
        for node in call_mod.imports:
            if isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    bound = alias.asname or alias.name
                    if bound != name:
                        continue
                    if not module and node.module == dotted and alias.name == name:
                        return True
                    if module and node.module == parent and alias.name == last:
                        return True
            elif isinstance(node, ast.Import) and module:
                for alias in node.names:
                    if alias.name == dotted and alias.asname == name:
                        return True
        return False

    # -- roots ----------------------------------------------------------------------------------------
    def scan(self) -> ScanResult:
        for mod in self.modules:
            for node in ast.walk(mod.tree):
                if isinstance(node, ast.Call):
                    for kw in node.keywords:
                        if kw.arg == "code":
                            self.resolve(mod, kw.value)
                elif isinstance(node, ast.Dict):
                    for key, value in zip(node.keys, node.values):
                        if isinstance(key, ast.Constant) and key.value == "code":
                            self.resolve(mod, value)
                elif isinstance(node, ast.ClassDef):
                    self._class_codes(mod, node)
        return self.result

    def _class_codes(self, mod: _Module, cls: ast.ClassDef) -> None:
        for stmt in cls.body:
            if not isinstance(stmt, ast.Assign):
                continue
            for target in stmt.targets:
                names = target.elts if isinstance(target, ast.Tuple) else [target]
                for i, name in enumerate(names):
                    if isinstance(name, ast.Name) and name.id == "code":
                        value = stmt.value.elts[i] if isinstance(target, ast.Tuple) else stmt.value
                        if isinstance(value, ast.Call):
                            continue  # a schema field (`code = fields.String()`), not a value
                        self.resolve(mod, value)


def scan(root: Path = REPO) -> ScanResult:
    return Scanner(root).scan()


if __name__ == "__main__":  # pragma: no cover - a look at what the scan finds
    res = scan()
    for code in sorted(res.codes):
        print(code, sorted({s.path for s in res.codes[code]}))
    print("unresolved:")
    for site in sorted(res.unresolved, key=lambda s: (s.path, s.line)):
        print(f"  {site.path}:{site.line}: {site.text}")

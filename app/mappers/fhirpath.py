"""FHIRPath expressions for mapping specs: checked and compiled once, evaluated on one resource.

:func:`compile_expression` checks an expression at config-load time (syntax, with a raising ANTLR
error listener because ``fhirpathpy.parse`` silently recovers from errors; and every function name
against fhirpathpy's invocation table, because unknown functions only fail at evaluation) and returns
a :class:`CompiledPath`. A plain dotted path (``Encounter.period.start``), optionally with
``where(<dotted path> = '<text>')`` steps, runs on a small internal walker with the same semantics as
fhirpathpy without a model (type check on the first step, lists flattened, JSON decimals as
:class:`~decimal.Decimal`, nulls skipped; ``=`` is FHIRPath collection equality, so the inner path
must yield exactly the one value), and so does a union (``|``) of such paths (duplicates removed as
fhirpathpy removes them); anything else runs the expression fhirpathpy compiled once.
The walker paths are not interpreted step by step at evaluation: :func:`accessor` turns each into
one generated Python function (nested loops over the path's elements, ``where`` as an inner
function), built once at compile time; :func:`walk_path` is the step-by-step reference it is tested
against, and both against fhirpathpy (generated resources, the example bundles, every expression
of the shipped mapping config). Pure: no I/O.
"""

from __future__ import annotations

import ast
import hashlib
import json
import linecache
import re
import threading
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import fhirpathpy
from antlr4 import CommonTokenStream, InputStream  # type: ignore[import-untyped]
from antlr4.error.ErrorListener import ErrorListener  # type: ignore[import-untyped]
from fhirpathpy.engine.invocations import invocation_registry
from fhirpathpy.engine.nodes import FP_Type
from fhirpathpy.parser import parse
from fhirpathpy.parser.generated.FHIRPathLexer import FHIRPathLexer
from fhirpathpy.parser.generated.FHIRPathParser import FHIRPathParser

from app.errors import FatalError

_IDENT = r"[a-z][A-Za-z0-9]*"
_WHERE = rf"where\(({_IDENT}(?:\.{_IDENT})*) = '([^'\\]*)'\)"
_NAME = re.compile(_IDENT)
_STEP = re.compile(rf"\.(?:{_WHERE}|({_IDENT}))")
PLAIN_PATH = re.compile(rf"^[A-Z][A-Za-z]*(?:\.(?:{_WHERE}|{_IDENT}))+$")
# FHIRPath keywords that the grammar treats as operators, not functions.
_OPERATOR_NAMES = frozenset({"is", "as", "in", "contains", "and", "or", "xor", "implies", "div", "mod"})


class ExpressionError(FatalError, ValueError):
    """An expression that cannot be used: bad syntax, an unknown function, the wrong resource type."""


class _RaisingListener(ErrorListener):  # type: ignore[misc]
    def syntaxError(self, recognizer: Any, offending: Any, line: int, column: int, msg: str, e: Any) -> None:
        raise ExpressionError(f"syntax error at column {column + 1}: {msg}")


def _check_syntax(expression: str) -> None:
    lexer = FHIRPathLexer(InputStream(expression))
    lexer.removeErrorListeners()
    lexer.addErrorListener(_RaisingListener())
    parser = FHIRPathParser(CommonTokenStream(lexer))
    parser.removeErrorListeners()
    parser.addErrorListener(_RaisingListener())
    tree = parser.expression()
    if parser.getCurrentToken().type != FHIRPathParser.EOF:
        raise ExpressionError(f"unexpected text after column {parser.getCurrentToken().start}")
    del tree


def _function_names(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if node.get("type") == "Functn":
            ident = node["children"][0]
            yield str(ident.get("text") or ident["terminalNodeText"][0])
        for child in node.get("children") or ():
            yield from _function_names(child)


def _check_functions(expression: str) -> None:
    known = set(invocation_registry) - _OPERATOR_NAMES
    for name in _function_names(parse(expression)):  # type: ignore[no-untyped-call]
        if name not in known:
            raise ExpressionError(f"unknown FHIRPath function {name}()")


def plain(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, FP_Type):
        return str(value)
    return value


# A walker step: a child name, or (inner path, literal) for where(<inner path> = '<literal>').
Step = str | tuple[tuple[str, ...], str]


def _children(values: list[Any], name: str) -> list[Any]:
    out: list[Any] = []
    for value in values:
        if not isinstance(value, dict):
            continue
        item = value.get(name)
        if isinstance(item, list):
            out.extend(v for v in item if v is not None)
        elif item is not None:
            out.append(item)
    return out


def _walk(values: list[Any], steps: tuple[Step, ...]) -> list[Any]:
    for step in steps:
        if isinstance(step, str):
            values = _children(values, step)
        else:
            inner, literal = step
            values = [v for v in values if _walk([v], inner) == [literal]]
    return values


def parse_steps(expression: str) -> tuple[str, tuple[Step, ...]]:
    """(resource type, steps) of an expression :data:`PLAIN_PATH` accepts."""
    head, _, rest = expression.partition(".")
    steps: list[Step] = []
    for inner, literal, name in _STEP.findall("." + rest):
        steps.append(name if name else (tuple(inner.split(".")), literal))
    return head, tuple(steps)


def walk_path(resource: dict[str, Any], head: str, steps: tuple[Step, ...]) -> list[Any]:
    """Evaluate a walker path (``head`` = resource type) the way fhirpathpy does."""
    if resource.get("resourceType") != head:
        return []
    return [plain(v) for v in _walk([resource], steps)]


def split_union(expression: str) -> list[str] | None:
    """The operands of a top-level ``a | b | ...`` whose every operand is a :data:`PLAIN_PATH`, else None.

    ``|`` inside a quoted literal or parentheses does not split; an expression with a backslash
    (an escape in a literal) is never split.
    """
    if "|" not in expression or "\\" in expression:
        return None
    parts, depth, quoted, start = [], 0, False, 0
    for i, ch in enumerate(expression):
        if ch == "'":
            quoted = not quoted
        elif not quoted and ch in "()":
            depth += 1 if ch == "(" else -1
        elif not quoted and depth == 0 and ch == "|":
            parts.append(expression[start:i].strip())
            start = i + 1
    parts.append(expression[start:].strip())
    return parts if all(PLAIN_PATH.match(part) for part in parts) else None


def _union_key(value: Any) -> str:
    """fhirpathpy's identity for ``|`` (``util.uniq``): the value as sorted JSON, else its text."""
    try:
        return json.dumps(value, sort_keys=True)
    except TypeError:
        return str(value)


def walk_union(resource: dict[str, Any], paths: tuple[tuple[str, tuple[Step, ...]], ...]) -> list[Any]:
    """``a | b | ...`` of walker paths the way fhirpathpy does it: concatenated, then the first of
    each group of equal values kept, in order."""
    found: dict[str, Any] = {}
    for head, steps in paths:
        if resource.get("resourceType") == head:
            for value in _walk([resource], steps):
                found.setdefault(_union_key(value), value)
    return [plain(v) for v in found.values()]


# Values plain returns unchanged, tested by class before calling it (FP_Type is none of these).
KEPT = frozenset({str, dict, int, bool, list})


def walk_lines(
    steps: tuple[Step, ...], namespace: dict[str, Any], prefix: str, root: str, depth: int
) -> tuple[list[str], list[str]]:
    """The inner functions (as source) and the source lines (indented ``depth`` levels) calling
    ``append(value)`` for each raw value of ``_walk([<root>], steps)``, in order.

    One nested loop per step (a child that is a list is iterated, None skipped, a non-dict value
    has no children); a ``where`` step is a test on the current value through its own generated
    inner function. Element names (checked identifiers) are quoted into the source; ``where``
    literals are bound in ``namespace``, never spliced into it.
    """
    lines: list[str] = []
    inner_defs: list[str] = []
    var = root
    for n, step in enumerate(steps):
        pad = "    " * depth
        if isinstance(step, str):
            if not _NAME.fullmatch(step):  # parse_steps only yields these; the source quotes nothing else
                raise ExpressionError(f"not an element name: {step!r}")
            child, item = f"{prefix}c{n}", f"{prefix}v{n}"
            lines.append(f"{pad}if isinstance({var}, dict):")
            lines.append(f"{pad}    {child} = {var}.get({step!r})")
            lines.append(f"{pad}    for {item} in ({child} if isinstance({child}, list) else ({child},)):")
            lines.append(f"{pad}        if {item} is not None:")
            depth, var = depth + 3, item
        else:
            inner, literal = step
            inner_name = f"{prefix}_w{n}"
            inner_defs.append(_generate(inner, namespace, inner_name))
            namespace[f"{prefix}_l{n}"] = [literal]
            lines.append(f"{pad}if {inner_name}({var}) == {prefix}_l{n}:")
            depth += 1
    lines.append("    " * depth + f"append({var})")
    return inner_defs, lines


def _generate(steps: tuple[Step, ...], namespace: dict[str, Any], prefix: str) -> str:
    """Source of ``def <prefix>(root)``: the raw values of ``_walk([root], steps)``, same order."""
    inner_defs, body = walk_lines(steps, namespace, prefix, "root", 1)
    lines = [f"def {prefix}(root):", "    out = []", "    append = out.append", *body, "    return out"]
    return "\n".join([*inner_defs, "\n".join(lines)])


# What generated code may hold besides checked element names (text), its own locals and the
# namespace it runs in: these texts, builtins and attributes.
_GENERATED_TEXTS = frozenset({"resourceType"})
_GENERATED_BUILTINS = frozenset({"isinstance", "dict", "list"})
_GENERATED_ATTRIBUTES = frozenset({"get", "append", "__class__"})
# The syntax the generators write (no import, lambda, global, with, try, await, star, ...).
_GENERATED_NODES: tuple[type[ast.AST], ...] = (
    ast.Module,
    ast.FunctionDef,
    ast.arguments,
    ast.arg,
    ast.Assign,
    ast.Expr,
    ast.Return,
    ast.If,
    ast.For,
    ast.Break,
    ast.Name,
    ast.Load,
    ast.Store,
    ast.Attribute,
    ast.Call,
    ast.Constant,
    ast.List,
    ast.Tuple,
    ast.ListComp,
    ast.comprehension,
    ast.Subscript,
    ast.Slice,
    ast.IfExp,
    ast.BoolOp,
    ast.And,
    ast.Or,
    ast.UnaryOp,
    ast.Not,
    ast.Compare,
    ast.Eq,
    ast.NotEq,
    ast.Is,
    ast.IsNot,
    ast.In,
    ast.NotIn,
)


def _allowed_constant(value: Any) -> bool:
    if isinstance(value, str):
        return value in _GENERATED_TEXTS or _NAME.fullmatch(value) is not None
    return not isinstance(value, bytes)


def _check_generated(source: str, namespace: dict[str, Any]) -> None:
    """Refuse generated source holding syntax the generators do not write, a text that is not a
    checked element name, a name that is neither its own, the namespace's nor an allowed builtin,
    or another attribute (defence in depth:
    the generators quote nothing else; everything from the configuration is a namespace value)."""
    own, loaded = set(namespace) | _GENERATED_BUILTINS, set[str]()
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, _GENERATED_NODES):
            raise ExpressionError(f"generated code would hold {type(node).__name__} syntax")
        if isinstance(node, ast.Name):
            (own if isinstance(node.ctx, ast.Store) else loaded).add(node.id)
        elif isinstance(node, ast.FunctionDef):
            own.add(node.name)
            own.update(a.arg for a in node.args.args)
        elif isinstance(node, ast.Attribute) and node.attr not in _GENERATED_ATTRIBUTES:
            raise ExpressionError(f"generated code would use the attribute {node.attr!r}")
        elif isinstance(node, ast.Constant) and not _allowed_constant(node.value):
            raise ExpressionError(f"generated code would hold the text {node.value!r}")
    unknown = sorted(loaded - own)
    if unknown:
        raise ExpressionError(f"generated code would use the name {unknown[0]!r}")


def exec_generated(source: str, namespace: dict[str, Any], name: str, what: str) -> Callable[..., Any]:
    """Run generated ``source`` in ``namespace`` and return its function ``name``.

    The source is kept on the function (``fn.__source__``) and registered with :mod:`linecache`
    under a name of its own (``<what #hash>``), so tracebacks and debuggers show the generated lines.
    """
    filename = f"<{what} #{hashlib.sha256(source.encode()).hexdigest()[:10]}>"
    try:
        _check_generated(source, namespace)
        code = compile(source, filename, "exec")
    except SyntaxError as exc:  # a generator bug, or nesting past Python's limits: say so at load
        raise ExpressionError(f"generated code does not compile ({what}): {exc.msg}") from exc
    exec(code, namespace)  # noqa: S102
    fn: Callable[..., Any] = namespace[name]
    fn.__dict__["__source__"] = source
    _keep_lines(filename, source, fn)
    return fn


# The linecache entries of generated functions, each with the number of live functions holding its
# code. When one is collected (a replaced configuration), a finalizer notes its entry (a list
# append: safe whenever the collector runs it); the next registration drops the entries no function
# holds any more, so reloads do not grow linecache without bound. linecache never checks an entry
# with no mtime against a file: an entry stays exactly as long as this registry keeps it.
_HOLDERS: dict[str, int] = {}
_RELEASED: list[str] = []
_HOLDERS_LOCK = threading.Lock()


def _keep_lines(filename: str, source: str, fn: Callable[..., Any]) -> None:
    entry = (len(source), None, source.splitlines(keepends=True), filename)
    with _HOLDERS_LOCK:
        while _RELEASED:
            released = _RELEASED.pop()
            left = _HOLDERS.get(released, 0) - 1
            if left > 0:
                _HOLDERS[released] = left
            else:
                _HOLDERS.pop(released, None)
                linecache.cache.pop(released, None)
        _HOLDERS[filename] = _HOLDERS.get(filename, 0) + 1
        linecache.cache[filename] = entry  # again: linecache.clearcache() may have emptied it
    weakref.finalize(fn, _RELEASED.append, filename).atexit = False


def generated_source(fn: Callable[..., Any]) -> str | None:
    """The Python source of a generated function (None for any other function)."""
    source = getattr(fn, "__source__", None)
    return source if isinstance(source, str) else None


# Python compiles at most 20 nested loops in one function (and 100 indents): longer walker paths
# (one loop and 3 indents per element step, an indent per where step, whose path is a function of
# its own) run on the step-by-step walker.
MAX_GENERATED_STEPS = 16


def generable(steps: tuple[Step, ...]) -> bool:
    """Whether ``steps`` can be a generated walker (else :func:`_walk` runs them)."""
    names = sum(isinstance(step, str) for step in steps)
    if names > MAX_GENERATED_STEPS or 3 * names + (len(steps) - names) > 80:  # 3 indents a name, 1 a where
        return False
    return all(isinstance(step, str) or len(step[0]) <= MAX_GENERATED_STEPS for step in steps)


def raw_accessor(steps: tuple[Step, ...]) -> Callable[[Any], list[Any]]:
    """A generated function giving ``_walk([value], steps)`` (no type check, values not converted)."""
    namespace: dict[str, Any] = {}
    walk: Callable[[Any], list[Any]] = exec_generated(
        _generate(steps, namespace, "walk"), namespace, "walk", "fhirpath walker"
    )
    return walk


def accessor(head: str, steps: tuple[Step, ...]) -> Callable[[dict[str, Any]], list[Any]]:
    """A generated function giving exactly ``walk_path(resource, head, steps)``."""
    walk = raw_accessor(steps)
    kept = KEPT

    def run(resource: dict[str, Any]) -> list[Any]:
        if resource.get("resourceType") != head:
            return []
        found = walk(resource)
        for value in found:
            if value.__class__ not in kept:
                return [plain(v) for v in found]
        return found

    return run


def union_accessor(paths: tuple[tuple[str, tuple[Step, ...]], ...]) -> Callable[[dict[str, Any]], list[Any]]:
    """A generated-walker version of :func:`walk_union`, same result."""
    walks = tuple((head, raw_accessor(steps)) for head, steps in paths)

    def run(resource: dict[str, Any]) -> list[Any]:
        found: dict[str, Any] = {}
        kind = resource.get("resourceType")
        for head, walk in walks:
            if kind == head:
                for value in walk(resource):
                    found.setdefault(_union_key(value), value)
        return [plain(v) for v in found.values()]

    return run


@dataclass(frozen=True)
class CompiledPath:
    """One checked expression; call it with the resource it is about."""

    expression: str
    resource_type: str | None
    _run: Callable[[dict[str, Any]], list[Any]] = field(repr=False, compare=False)
    walked: bool = False  # True: runs on the internal walker, not fhirpathpy
    #: (resource type, steps) of a plain dotted path that :func:`generable` accepts, for callers that
    #: generate their own walker code.
    path: tuple[str, tuple[Step, ...]] | None = field(default=None, repr=False, compare=False)

    def __call__(self, resource: dict[str, Any]) -> list[Any]:
        return self._run(resource)


def _fhirpathpy_runner(expression: str) -> Callable[[dict[str, Any]], list[Any]]:
    compiled = fhirpathpy.compile(expression)

    def run(resource: dict[str, Any]) -> list[Any]:
        return [plain(v) for v in compiled(resource, {}) if v is not None]

    return run


def compile_expression(expression: str, *, resource_type: str | None = None) -> CompiledPath:
    """Check and compile ``expression``; with ``resource_type`` a leading type name must match it."""
    expression = expression.strip()
    if not expression:
        raise ExpressionError("empty expression")
    _check_syntax(expression)
    _check_functions(expression)
    leading = re.match(r"^([A-Z][A-Za-z]*)\b", expression)
    if resource_type and leading and leading.group(1) != resource_type:
        raise ExpressionError(f"expression starts with {leading.group(1)} but is evaluated on {resource_type}")
    if PLAIN_PATH.match(expression):
        head, steps = parse_steps(expression)
        if not generable(steps):
            return CompiledPath(expression, resource_type, lambda r: walk_path(r, head, steps), walked=True)
        return CompiledPath(expression, resource_type, accessor(head, steps), walked=True, path=(head, steps))
    operands = split_union(expression)
    if operands is not None:
        paths = tuple(parse_steps(operand) for operand in operands)
        if not all(generable(steps) for _, steps in paths):
            return CompiledPath(expression, resource_type, lambda r: walk_union(r, paths), walked=True)
        return CompiledPath(expression, resource_type, union_accessor(paths), walked=True)
    return CompiledPath(expression, resource_type, _fhirpathpy_runner(expression))


def compile_stepwise(expression: str) -> CompiledPath:
    """A walked expression on the step-by-step reference walker (:func:`walk_path` / :func:`walk_union`),
    which the tests compare with the generated accessors."""
    if PLAIN_PATH.match(expression):
        head, steps = parse_steps(expression)
        return CompiledPath(expression, None, lambda r: walk_path(r, head, steps), walked=True)
    operands = split_union(expression)
    if operands is None:
        raise ExpressionError(f"not a walker expression: {expression}")
    paths = tuple(parse_steps(operand) for operand in operands)
    return CompiledPath(expression, None, lambda r: walk_union(r, paths), walked=True)


def compile_slow(expression: str) -> CompiledPath:
    """The same expression always through fhirpathpy (tests compare it with the fast walker)."""
    return CompiledPath(expression, None, _fhirpathpy_runner(expression))

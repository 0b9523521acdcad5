"""A small sandboxed evaluator for spec expressions.

Supports arithmetic, comparisons, `and`/`or`/`not`, `a if c else b`, list and
tuple literals, list comprehensions, indexing and slicing, and a fixed set of
functions. Nothing else: no attribute access, no calls of anything outside the
table below, no imports; every step is bounded (expression size, integer width,
list length, and the work of all values built or read).
"""

from __future__ import annotations

import ast
import operator
import re
import reprlib
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from typing import Any, Mapping

from . import limits
from .errors import ExprError, did_you_mean
from .expr_functions import FUNCTIONS

__all__ = ["FUNCTIONS", "ExprError", "evaluate", "parse", "render_template", "work_budget"]


_BUDGET: ContextVar[list | None] = ContextVar("archc_expression_budget", default=None)


@contextmanager
def work_budget(units: int):
    """Bound the work of every expression evaluated inside (one spec's): each value built or read
    costs 1 plus its items, so loops cannot multiply one costly expression into hours."""
    token = _BUDGET.set([units])
    try:
        yield
    finally:
        _BUDGET.reset(token)


def _charge(units: int) -> None:
    budget = _BUDGET.get()
    if budget is not None:
        budget[0] -= units
        if budget[0] < 0:
            raise ExprError(f"the spec's expressions take more than {limits.MAX_EXPR_WORK:,} units of work "
                            "(values built or read, their items counted)",
                            hint="expressions over long lists inside long loops: simplify them", fatal=True)



_BINOPS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: operator.not_}
_COMPARE = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}
_ALLOWED = (
    ast.Expression, ast.Constant, ast.Name, ast.Load, ast.BinOp, ast.UnaryOp, ast.Compare, ast.BoolOp,
    ast.And, ast.Or, ast.IfExp, ast.Subscript, ast.Slice, ast.List, ast.Tuple, ast.Call,
    ast.ListComp, ast.comprehension, ast.Store, *_BINOPS, *_UNARY, *_COMPARE,
)


@lru_cache(maxsize=4096)
def parse(text: str) -> ast.Expression:
    """Parse and check an expression; raises ExprError for anything outside the language."""
    if len(text) > limits.MAX_EXPR_CHARS:
        raise ExprError(f"expression is {len(text)} characters long; the limit is {limits.MAX_EXPR_CHARS}")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExprError(f"invalid expression '{text}': {exc.msg}", hint="expressions use Python syntax: 4 * growth, floor(c / 2), x[0]") from None
    except (ValueError, RecursionError, MemoryError):
        raise ExprError(f"invalid expression '{text}'") from None
    nodes = list(ast.walk(tree))
    if len(nodes) > limits.MAX_EXPR_NODES:
        raise ExprError(f"expression has {len(nodes)} parts; the limit is {limits.MAX_EXPR_NODES}")
    for node in nodes:
        if isinstance(node, ast.Attribute):
            raise ExprError(f"attribute access ('.{node.attr}') is not allowed in expressions",
                            hint="use indexing (x[0]) or a param instead")
        if not isinstance(node, _ALLOWED):
            raise ExprError(f"'{type(node).__name__}' is not allowed in expressions",
                            hint="allowed: arithmetic, comparisons, and/or/not, a if c else b, lists, "
                                 "[f(x) for x in xs if c], x[i], " + ", ".join(FUNCTIONS))
        if isinstance(node, ast.comprehension):
            if node.is_async:
                raise ExprError("'async for' is not allowed in expressions")
            _check_target(node.target)
        if isinstance(node, ast.Call):
            if not isinstance(node.func, (ast.Name, *_ALLOWED)):
                continue  # calling `x.attr` or a lambda: reported when the walk reaches the callee
            if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
                name = node.func.id if isinstance(node.func, ast.Name) else "this"
                raise ExprError(f"cannot call '{name}' in an expression",
                                hint=did_you_mean(name, FUNCTIONS) or "functions: " + ", ".join(FUNCTIONS))
            if node.keywords:
                raise ExprError("keyword arguments are not allowed in expressions")
        if isinstance(node, ast.Constant) and not isinstance(node.value, (int, float, str, bool, type(None))):
            raise ExprError(f"constant {node.value!r} is not allowed")
    return tree


def _check_target(target: ast.AST) -> None:
    """A comprehension binds names, or lists of names to destructure (`for w, n in stages`)."""
    if isinstance(target, (ast.Tuple, ast.List)):
        for element in target.elts:
            _check_target(element)
    elif not isinstance(target, ast.Name):
        raise ExprError("a comprehension's 'for' binds names ('for x in xs', 'for w, n in pairs')",
                        hint=f"found '{ast.unparse(target)}'")


def evaluate(text: str, env: Mapping[str, Any]) -> Any:
    """Evaluate `text` with the names in `env` (outside a spec's work budget, within one of its own)."""
    if _BUDGET.get() is None:
        with work_budget(limits.MAX_EXPR_WORK):
            return evaluate(text, env)
    tree = parse(text)
    try:
        return _Eval(env).visit(tree.body)
    except ExprError:
        raise
    except ZeroDivisionError:
        raise ExprError(f"division by zero in '{text}'") from None
    except (TypeError, ValueError, IndexError, KeyError, OverflowError) as exc:
        raise ExprError(f"cannot evaluate '{text}': {exc}") from None
    except RecursionError:
        raise ExprError(f"expression '{text}' nests too deeply") from None


_TEMPLATE = re.compile(r"\{([^{}]*)\}")


def render_template(text: str, env: Mapping[str, Any]) -> str:
    """Fill `{expr}` holes in a name template, e.g. 'denselayer{j + 1}'."""
    if "{" not in text:
        return text
    if len(text) > limits.MAX_EXPR_CHARS:
        raise ExprError(f"the name template is {len(text):,} characters long; the limit is {limits.MAX_EXPR_CHARS:,}")
    return _TEMPLATE.sub(lambda m: str(evaluate(m.group(1), env)), text)


def _items(value) -> int:
    """Items in `value`, nested lists and strings included; counting stops once past the limit."""
    total, stack = 0, [value]
    while stack:
        current = stack.pop()
        total += len(current)
        if total > limits.MAX_LIST_LEN:
            break
        if not isinstance(current, str):
            stack.extend(v for v in current if isinstance(v, (list, tuple, str)))
    return total


def _check_size(value):
    if isinstance(value, (list, tuple, str)):
        size = _items(value)
        _charge(1 + size)
        if size > limits.MAX_LIST_LEN:
            raise ExprError(f"the result has more than {limits.MAX_LIST_LEN} items (the limit)")
        return value
    _charge(1)
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > limits.MAX_INT_BITS:
        raise ExprError(f"integer result is wider than {limits.MAX_INT_BITS} bits")
    if isinstance(value, complex):
        raise ExprError("the result is a complex number", hint="a negative number to a fractional power is complex")
    return value


class _Eval:
    def __init__(self, env: Mapping[str, Any]):
        self.env = env
        self._iterations = 0

    def visit(self, node):
        return _check_size(getattr(self, "visit_" + type(node).__name__)(node))

    def visit_Constant(self, node):
        return node.value

    def visit_Name(self, node):
        if node.id in self.env:
            return self.env[node.id]
        if node.id in ("True", "False", "None"):
            return {"True": True, "False": False, "None": None}[node.id]
        if node.id in ("true", "false"):
            return node.id == "true"
        known = sorted(str(k) for k in self.env if not str(k).startswith("_"))
        raise ExprError(f"undefined name '{node.id}'",
                        hint=did_you_mean(node.id, known) or "names available here: " + ", ".join(known))

    def visit_BinOp(self, node):
        left, right = self.visit(node.left), self.visit(node.right)
        op = type(node.op)
        if op is ast.Pow and isinstance(left, int) and isinstance(right, int):
            if abs(left) > 1 and right > 0 and right * (abs(left).bit_length() - 1) > limits.MAX_INT_BITS:
                raise ExprError(f"{left} ** {right} is too large")
        if op is ast.Mod and isinstance(left, str):
            raise ExprError("'%' string formatting is not allowed in expressions",
                            hint="build names with templates instead: 'block{i + 1}'")
        if op is ast.Mult:
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, (list, tuple, str)) and isinstance(n, int) and len(seq) * n > limits.MAX_LIST_LEN:
                    raise ExprError(f"repeating a sequence {n} times is larger than the limit {limits.MAX_LIST_LEN}")
        return _BINOPS[op](left, right)

    def visit_UnaryOp(self, node):
        return _UNARY[type(node.op)](self.visit(node.operand))

    def visit_Compare(self, node):
        left = self.visit(node.left)
        for op, comparator in zip(node.ops, node.comparators):
            right = self.visit(comparator)
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True

    def visit_BoolOp(self, node):
        is_and = isinstance(node.op, ast.And)
        value = None
        for operand in node.values:
            value = self.visit(operand)
            if bool(value) != is_and:
                return value
        return value

    def visit_IfExp(self, node):
        return self.visit(node.body) if self.visit(node.test) else self.visit(node.orelse)

    def visit_Subscript(self, node):
        return self.visit(node.value)[self.visit(node.slice)]

    def visit_Slice(self, node):
        part = lambda n: None if n is None else self.visit(n)  # noqa: E731
        return slice(part(node.lower), part(node.upper), part(node.step))

    def visit_List(self, node):
        return [self.visit(e) for e in node.elts]

    visit_Tuple = visit_List

    def visit_Call(self, node):
        return FUNCTIONS[node.func.id](*[self.visit(a) for a in node.args])

    def visit_ListComp(self, node):
        result, items = [], [0]
        self._generate(node, 0, result, items)
        return result

    def _generate(self, node, k: int, result: list, items: list) -> None:
        """The elements of generator `k` onwards; each iteration's names hide the enclosing ones only inside."""
        if k == len(node.generators):
            value = self.visit(node.elt)
            items[0] += 1 + (_items(value) if isinstance(value, (list, tuple, str)) else 0)
            if items[0] > limits.MAX_LIST_LEN:   # before the list grows further
                raise ExprError(f"the result has more than {limits.MAX_LIST_LEN} items (the limit)")
            result.append(value)
            return
        generator = node.generators[k]
        seq = self.visit(generator.iter)
        if not isinstance(seq, list):
            raise ExprError(f"a comprehension runs over a list, found {reprlib.repr(seq)}",
                            hint="range(n) counts 0 .. n-1")
        outer = self.env
        self.env = local = dict(outer)       # a flat copy: lookups stay one dict access
        try:
            for element in seq:
                self._iterations += 1
                if self._iterations > limits.MAX_COMPREHENSION_ITERATIONS:
                    raise ExprError(f"the comprehensions run more than {limits.MAX_COMPREHENSION_ITERATIONS:,} "
                                    "iterations (the limit for one expression)")
                _charge(1)                                   # the element read
                _bind(generator.target, element, local)
                if all(self.visit(condition) for condition in generator.ifs):
                    self._generate(node, k + 1, result, items)
        finally:
            self.env = outer


def _bind(target: ast.AST, value, bound: dict) -> None:
    """Bind a comprehension's target (a name, or names to destructure a list into) in `bound`."""
    if isinstance(target, ast.Name):
        bound[target.id] = value
        return
    if not isinstance(value, list) or len(value) != len(target.elts):
        raise ExprError(f"cannot unpack {reprlib.repr(value)} into {ast.unparse(target)}",
                        hint=f"each item must have {len(target.elts)} values")
    for element, item in zip(target.elts, value):
        _bind(element, item, bound)

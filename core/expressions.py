"""A safe evaluator for the column expressions of a job's constraints (formulas, row predicates).

A job file is data, never code: an expression is parsed with `ast` and evaluated by walking a
whitelist of nodes over the frame's columns (arithmetic, comparisons, `and` / `or` / `not`,
numbers and strings, column names, and calls of the functions in `FUNCTIONS`). Nothing is
passed to `eval`, so attribute access, subscripts, lambdas, comprehensions and any other call
are refused when the expression is parsed, before any data is read. A column whose name is not a
Python identifier is written `col("od280/od315")`.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable
from functools import cache
from typing import Any

import numpy as np
import pandas as pd

from core.errors import ConfigError

MAX_EXPRESSION_CHARS = 1_000  # a formula is a line; a deeply nested one could exhaust the stack
COLUMN_FUNCTION = "col"

FUNCTIONS: dict[str, Callable[..., Any]] = {
    "abs": np.abs,
    "sqrt": np.sqrt,
    "log": np.log,
    "exp": np.exp,
    "floor": np.floor,
    "ceil": np.ceil,
    "round": np.round,
    "minimum": np.minimum,
    "maximum": np.maximum,
    "where": np.where,
}
BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}
UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
    ast.Not: np.logical_not,
}


def parse_expression(text: str) -> ast.Expression:
    """The checked syntax tree of `text`, or a ConfigError naming what is not allowed."""
    return _parse(text)


@cache
def _parse(text: str) -> ast.Expression:
    if len(text) > MAX_EXPRESSION_CHARS:
        raise ConfigError(
            f"Expression {text[:40]!r}... is {len(text):,} characters; at most "
            f"{MAX_EXPRESSION_CHARS:,} are allowed. Split it into several constraints."
        )
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise ConfigError(f"Expression {text!r} is not valid syntax: {exc.msg}.") from None
    for node in ast.walk(tree):
        _check_node(node, text)
    return tree


def _check_node(node: ast.AST, text: str) -> None:
    allowed = (
        ast.Expression,
        ast.BinOp,
        ast.UnaryOp,
        ast.BoolOp,
        ast.Compare,
        ast.Name,
        ast.Load,
        ast.Call,
        ast.Constant,
        ast.And,
        ast.Or,
        *BINARY,
        *COMPARE,
        *UNARY,
    )
    if not isinstance(node, allowed):
        raise ConfigError(
            f"Expression {text!r} uses {type(node).__name__}, which constraints do not allow; "
            "use column names, numbers, strings, arithmetic, comparisons, and/or/not and the "
            f"functions {sorted([*FUNCTIONS, COLUMN_FUNCTION])}."
        )
    if isinstance(node, ast.Name) and node.id.startswith("__"):
        raise ConfigError(f"Expression {text!r} names {node.id!r}; dunder names are not allowed.")
    if isinstance(node, ast.Constant) and not isinstance(node.value, int | float | str | bool):
        raise ConfigError(f"Expression {text!r} has the constant {node.value!r}; use numbers.")
    if isinstance(node, ast.Call):
        _check_call(node, text)


def _check_call(node: ast.Call, text: str) -> None:
    name = node.func.id if isinstance(node.func, ast.Name) else None
    if name not in FUNCTIONS and name != COLUMN_FUNCTION:
        raise ConfigError(
            f"Expression {text!r} calls {ast.unparse(node.func)!r}; only "
            f"{sorted([*FUNCTIONS, COLUMN_FUNCTION])} may be called."
        )
    if node.keywords:
        raise ConfigError(f"Expression {text!r} passes keyword arguments; pass them by position.")
    if name == COLUMN_FUNCTION and not (
        len(node.args) == 1
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    ):
        raise ConfigError(f'Expression {text!r}: col() takes one column name, e.g. col("a/b").')


def expression_columns(text: str) -> list[str]:
    """The columns `text` reads, in order of first use."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(_parse(text)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id == COLUMN_FUNCTION:
                found.append((node.col_offset, node.args[0].value))  # type: ignore[attr-defined]
        elif isinstance(node, ast.Name) and node.id not in (*FUNCTIONS, COLUMN_FUNCTION):
            found.append((node.col_offset, node.id))
    return list(dict.fromkeys(name for _, name in sorted(found)))


def evaluate(text: str, frame: pd.DataFrame) -> np.ndarray:
    """`text` evaluated row by row over `frame`'s columns, as an array of one value per row."""
    value = _Evaluator(frame).visit(_parse(text).body)
    return np.broadcast_to(np.asarray(value), (len(frame),))


class _Evaluator:
    def __init__(self, frame: pd.DataFrame):
        self.frame = frame

    def visit(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Constant):
            # Numbers as float64: `10 ** 10 ** 10` overflows to inf instead of running forever.
            value = node.value
            return np.float64(value) if isinstance(value, int | float) else value
        if isinstance(node, ast.Name):
            return self._column(node.id)
        if isinstance(node, ast.BinOp):
            with np.errstate(all="ignore"):
                return BINARY[type(node.op)](self.visit(node.left), self.visit(node.right))
        if isinstance(node, ast.UnaryOp):
            return UNARY[type(node.op)](self.visit(node.operand))
        if isinstance(node, ast.BoolOp):
            combine = np.logical_and if isinstance(node.op, ast.And) else np.logical_or
            values = [self.visit(v) for v in node.values]
            result = values[0]
            for value in values[1:]:
                result = combine(result, value)
            return result
        if isinstance(node, ast.Compare):
            return self._compare(node)
        assert isinstance(node, ast.Call) and isinstance(node.func, ast.Name)  # checked at parse
        if node.func.id == COLUMN_FUNCTION:
            return self._column(node.args[0].value)  # type: ignore[attr-defined]
        with np.errstate(all="ignore"):
            return FUNCTIONS[node.func.id](*(self.visit(arg) for arg in node.args))

    def _compare(self, node: ast.Compare) -> Any:
        left = self.visit(node.left)
        result: Any = True
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            right = self.visit(right_node)
            result = np.logical_and(result, COMPARE[type(op)](left, right))
            left = right
        return result

    def _column(self, name: str) -> np.ndarray:
        if name not in self.frame.columns:
            raise ConfigError(
                f"Expression names column {name!r}, which the table does not have; columns: "
                f"{[str(c) for c in self.frame.columns]}."
            )
        return self.frame[name].to_numpy()

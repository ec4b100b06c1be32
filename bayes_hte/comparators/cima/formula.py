"""One-sided model formulas of CIMA-AgD: parsing and model matrices.

A formula such as ``"~ lvef + I(lvef^2) + prehhf"`` names the columns of a model
matrix: bare variables, ``I(expr)`` with ``+ - * / ^`` and ``log``/``exp``/``sqrt``/
``abs``, and products ``a:b``. The intercept is always included. Expressions are parsed
with :mod:`ast` and evaluated by a small interpreter (never ``eval``).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bayes_hte.errors import DataError

__all__ = ["Term", "design_matrix", "parse_formula"]


@dataclass(frozen=True)
class Term:
    """One column of a model matrix: a label, a parsed expression and its variables.

    Parameters
    ----------
    label : str
        The term as written in the formula (spaces removed), e.g. ``"I(lvef^2)"``.
    expr : ast.expr
        The parsed expression (``a:b`` becomes a product).
    variables : tuple of str
        The variables the expression uses, in order of appearance.
    """

    label: str
    expr: ast.expr
    variables: tuple[str, ...]

    @property
    def variable(self) -> str | None:
        """The variable when the term is a bare variable name."""
        return self.expr.id if isinstance(self.expr, ast.Name) else None

    @property
    def square_of(self) -> str | None:
        """The variable when the term is ``I(x^2)``."""
        e = self.expr
        if (isinstance(e, ast.BinOp) and isinstance(e.op, ast.Pow)
                and isinstance(e.left, ast.Name) and isinstance(e.right, ast.Constant)
                and e.right.value == 2):
            return e.left.id
        return None


_FUNCS = {"log": np.log, "exp": np.exp, "sqrt": np.sqrt, "abs": np.abs}


def _check_expr(node: ast.AST, where: str) -> None:
    ok = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Name, ast.Constant, ast.Load,
          ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow, ast.USub, ast.UAdd, ast.Call)
    for sub in ast.walk(node):
        if not isinstance(sub, ok):
            raise DataError(f"{where}: unsupported expression element {type(sub).__name__}")
        if isinstance(sub, ast.Call) and not (isinstance(sub.func, ast.Name)
                                              and sub.func.id in _FUNCS and not sub.keywords):
            raise DataError(f"{where}: only {sorted(_FUNCS)} may be called inside I()")
        if isinstance(sub, ast.Constant) and not isinstance(sub.value, int | float):
            raise DataError(f"{where}: constants must be numbers")


def _variables(node: ast.AST) -> tuple[str, ...]:
    names = [n.id for n in ast.walk(node) if isinstance(n, ast.Name) and n.id not in _FUNCS]
    return tuple(dict.fromkeys(names))


def _split_top(s: str, sep: str) -> list[str]:
    parts, depth, cur = [], 0, []
    for ch in s:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == sep and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return [p.strip() for p in parts]


def _strip_calls(term: str) -> str:
    """The term without the contents of I(...) (where '-' is arithmetic)."""
    out, depth = [], 0
    for ch in term:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif depth == 0:
            out.append(ch)
    return "".join(out)


def parse_formula(formula: str, *, what: str = "formula") -> list[Term]:
    """Parse a one-sided formula such as ``"~ lvef + I(lvef^2) + prehhf"``.

    Terms are variable names, ``I(expr)`` with ``+ - * / ^`` (or ``**``) and
    ``log``/``exp``/``sqrt``/``abs``, and products ``a:b``. The intercept is always
    included (it is not returned as a term); ``1`` is accepted and ignored.

    Parameters
    ----------
    formula : str
        The formula, starting with ``~``.
    what : str
        Name of the option in error messages (e.g. ``"cate"``).

    Returns
    -------
    list of Term
        One term per model-matrix column other than the intercept, in formula order.

    Raises
    ------
    DataError
        A formula not starting with ``~``, an attempt to drop the intercept, an
        unsupported term, a repeated term.
    """
    if not isinstance(formula, str) or not formula.strip().startswith("~"):
        raise DataError(f"{what} must be a one-sided formula string like '~ x1 + x2', got "
                        f"{formula!r}")
    rhs = formula.strip()[1:].strip()
    terms: list[Term] = []
    if not rhs:
        return terms
    for raw in _split_top(rhs, "+"):
        where = f"{what} {formula!r}, term {raw!r}"
        if raw in ("1",):
            continue
        if raw in ("0", "-1", "") or re.search(r"(^|[^A-Za-z0-9_.(])-", _strip_calls(raw)):
            raise DataError(f"{where}: the intercept cannot be removed and terms cannot be "
                            "subtracted; write the terms to include, separated by '+'")
        factors = []
        for f in _split_top(raw, ":"):
            m = re.fullmatch(r"I\((.*)\)", f)
            src = m.group(1).replace("^", "**") if m else f
            if not m and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", f):
                raise DataError(f"{where}: write a variable name, I(expression) or a:b")
            if not m and "." in f:
                raise DataError(f"{where}: variable names with '.' are not supported")
            try:
                node = ast.parse(src, mode="eval")
            except SyntaxError as err:
                raise DataError(f"{where}: cannot parse {src!r} ({err.msg})") from err
            _check_expr(node, where)
            factors.append(node.body)
        expr = factors[0]
        for f in factors[1:]:
            expr = ast.BinOp(left=expr, op=ast.Mult(), right=f)
        label = ":".join(_split_top(raw, ":")).replace(" ", "")
        if any(t.label == label for t in terms):
            raise DataError(f"{where}: the term appears twice")
        terms.append(Term(label, expr, _variables(expr)))
    return terms


def _evaluate(expr: ast.expr, data: Mapping[str, np.ndarray]) -> np.ndarray:
    if isinstance(expr, ast.Name):
        return np.asarray(data[expr.id], dtype=float)
    if isinstance(expr, ast.Constant):
        return np.asarray(float(expr.value))
    if isinstance(expr, ast.UnaryOp):
        v = _evaluate(expr.operand, data)
        return -v if isinstance(expr.op, ast.USub) else v
    if isinstance(expr, ast.Call):
        return _FUNCS[expr.func.id](_evaluate(expr.args[0], data))  # type: ignore[union-attr]
    assert isinstance(expr, ast.BinOp)
    a, b = _evaluate(expr.left, data), _evaluate(expr.right, data)
    op = expr.op
    if isinstance(op, ast.Add):
        return a + b
    if isinstance(op, ast.Sub):
        return a - b
    if isinstance(op, ast.Mult):
        return a * b
    if isinstance(op, ast.Div):
        return a / b
    return a**b


def design_matrix(terms: Sequence[Term], frame: pd.DataFrame, *, intercept: bool = True,
                  what: str = "data") -> np.ndarray:
    """Model matrix of parsed terms evaluated on the rows of a frame.

    Parameters
    ----------
    terms : sequence of Term
        From :func:`parse_formula`.
    frame : pandas.DataFrame
        One row per individual; a column per variable the terms use.
    intercept : bool
        Prepend a column of ones.
    what : str
        Name of the frame in error messages (e.g. ``"base sample"``).

    Returns
    -------
    ndarray, shape (n_rows, intercept + len(terms))

    Raises
    ------
    DataError
        A variable the terms need is not a column, or a term is not finite on some row.
    """
    n = len(frame)
    cols = [np.ones(n)] if intercept else []
    data = {c: frame[c].to_numpy(dtype=float) for c in frame.columns}
    for t in terms:
        missing = [v for v in t.variables if v not in data]
        if missing:
            raise DataError(f"term {t.label!r} needs columns {missing}, which the {what} "
                            f"does not have (columns: {list(frame.columns)})")
        with np.errstate(all="ignore"):
            v = np.broadcast_to(_evaluate(t.expr, data), (n,)).astype(float)
        bad = ~np.isfinite(v)
        if bad.any():
            # the frame's index may be a fresh 0..n-1: name the values, not positions
            at = "; ".join(f"{c} = {sorted(set(data[c][bad].tolist()))[:5]}"
                           for c in t.variables)
            raise DataError(f"term {t.label!r} is not finite in {int(bad.sum())} rows of the "
                            f"{what}, where {at}; change the term or those values")
        cols.append(v)
    return np.column_stack(cols) if cols else np.zeros((n, 0))


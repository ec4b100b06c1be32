r"""Causally interpretable meta-analysis from aggregate data (CIMA-AgD).

Shi et al., *Causally-interpretable meta-analysis using aggregate data* (seed
``shi_cima_aggregate_data.txt``; formulas in ``methods/cima_agd.md``). From published
trial reports alone -- overall and one-at-a-time subgroup treatment effects and
covariate means/SDs -- a parametric CATE :math:`\tau(x;\theta) = b(x)'\theta` is
estimated and marginalised over a target population.

**Exponential tilting.** A base sample :math:`Q = \{x_i\}_{i=1}^{n_q}` is tilted to
each trial :math:`k`'s reported moments :math:`\mu_k^+ = (1, \mu_k)` of features
:math:`h^+(x) = (1, h(x))`: :math:`w_k(x) = \exp(\lambda_k' h^+(x))` with

.. math::

    \frac1{n_q}\sum_i h^+(x_i)\, w_k(x_i) = \mu_k^+ ,

the minimiser of the convex :math:`L(\lambda) = \overline{\exp(\lambda'h^+)} -
\lambda'\mu_k^+` (Newton with the analytic Hessian and a line search).

**Moments.** A reported effect :math:`\hat\tau_j` of trial :math:`k(j)` in stratum
:math:`S_j` (share :math:`p_j`) has representer
:math:`\alpha_j(x) = w_{k(j)}(x)\,1\{x \in S_j\}/p_j` and model moment
:math:`m_j(\theta) = n_q^{-1}\sum_i \alpha_j(x_i) b(x_i)'\theta = (D\theta)_j`.

**GMM.** :math:`\hat\theta = \arg\min (D\theta - \hat\tau)'W(D\theta-\hat\tau) =
(D'WD)^{-1}D'W\hat\tau`. The reference weighting is block diagonal by trial,
:math:`W_k = (n_k\,\mathrm{diag}(s_j^2) + 10^{-8}I)^{-1}`; a second step uses
:math:`W = \hat\Omega^{-1}`.

**Target ATE.** :math:`\hat\psi = N_T^{-1}\sum_l b(x_l)'\hat\theta`, with

.. math::

    \widehat{\mathrm{Var}}(\hat\psi) = \frac1{N_T^2}\sum_l \{b(x_l)'\hat\theta -
    \hat\psi\}^2 + \bar b' V_\theta \bar b, \qquad
    V_\theta = J\hat\Omega J', \quad J = -(D'WD)^{-1}D'W,

where :math:`\hat\Omega` collects the base-sample error of the moments, the tilting
error (base sample and reported means) and the reported effects' covariance
:math:`V^{rep}`, whose unreported off-diagonal entries use the working
approximations of the method note (section 4). Subgroup effects average over the
target rows of a subgroup with the same variance formula.

Defaults reproduce the authors' reference implementation (R package CIMAgD):
representers divided by the *reported* :math:`p_j`, the :math:`n_k`-scaled weighting
matrix and one GMM step, :math:`V^{rep}` correlations overlap/:math:`(p_jp_{j'})` passed
through ``nearPD`` twice. The paper-faithful alternatives are options
(``representer="tilted"``, ``weights="inverse_variance"``, ``steps=2``,
``correlation="paper"``).
"""

from __future__ import annotations

import ast
import itertools
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

from bayes_hte.data.summaries import (
    OVERALL,
    CopulaMethod,
    CovariateSummary,
    Stratum,
    parse_stratum,
    validate_effects,
)
from bayes_hte.errors import DataError, DataWarning

Weights = Literal["reference", "inverse_variance"]
Representer = Literal["reported", "tilted"]
Correlation = Literal["reference", "paper"]

__all__ = ["CIMAEstimate", "CIMAResult", "cima", "cima_indirect", "nearest_pd",
           "parse_formula", "solve_tilting"]


# =========================================================================== formulas
@dataclass(frozen=True)
class Term:
    """One column of a model matrix: a label, a parsed expression and its variables."""

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


def _design(terms: Sequence[Term], frame: pd.DataFrame, *, intercept: bool = True,
            what: str = "data") -> np.ndarray:
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
        if not np.all(np.isfinite(v)):
            raise DataError(f"term {t.label!r} is not finite for some rows of the {what}")
        cols.append(v)
    return np.column_stack(cols) if cols else np.zeros((n, 0))


def _term_moment(term: Term, rows: pd.DataFrame, kinds: Mapping[str, str], trial: str) -> float:
    """Trial mean of a tilting feature from the reported summaries.

    ``x`` -> mean; ``I(x^2)`` -> mean^2 + sd^2 (continuous) or mean (binary); any other
    term must be reported as its own row of the covariates table, ``covariate`` equal to
    the term's label (e.g. ``"x1:x2"`` with the trial mean of the product).
    """
    if term.label in rows.index:
        return float(rows.loc[term.label, "mean"])
    var = term.variable or term.square_of
    if var is not None:
        if var not in rows.index:
            raise DataError(f"trial {trial!r} has no covariate summary for {var!r}, which the "
                            f"tilting term {term.label!r} needs; add it to the covariates table "
                            "or leave the term out of tilting=")
        mean, sd = float(rows.loc[var, "mean"]), float(rows.loc[var, "sd"])
        if term.variable is not None:
            return mean
        return mean if kinds.get(var) == "binary" else mean**2 + sd**2
    raise DataError(f"trial {trial!r}: the trial mean of tilting term {term.label!r} cannot be "
                    "derived from means and SDs; report it as a covariates row with covariate "
                    f"{term.label!r} and its mean")


# =========================================================================== tilting
@dataclass(frozen=True)
class TiltingFit:
    """Exponential tilting of the base sample to one trial's moments."""

    trial: str
    coef: np.ndarray  # lambda on the original feature scale, (p_h,)
    weights: np.ndarray  # w_k(x_i), mean 1, (n_q,)
    iterations: int
    max_error: float  # max |mean(h+ w) - mu+| on the original scale


def solve_tilting(
    H: np.ndarray,
    mu: np.ndarray,
    *,
    trial: str = "trial",
    features: Sequence[str] | None = None,
    tol: float = 1e-11,
    maxiter: int = 200,
) -> TiltingFit:
    r"""Exponential tilting weights matching the moments ``mu`` of features ``H``.

    Solves :math:`n^{-1}\sum_i h^+_i e^{\lambda'h^+_i} = (1, \mu)` by Newton's method
    with the analytic Hessian :math:`n^{-1}\sum_i w_i h^+_i h^{+\prime}_i` and a
    backtracking line search on the convex dual :math:`\overline{e^{\lambda'h^+}} -
    \lambda'\mu^+`, in standardised features (the weights do not depend on the affine
    scale of the features). The linear predictor is clipped to [-700, 700].

    Parameters
    ----------
    H : ndarray, shape (n, q)
        Tilting features of the base sample (no intercept column).
    mu : ndarray, shape (q,)
        Target means of the features.
    trial : str
        Name used in error messages.

    Raises
    ------
    DataError
        A feature constant in the base sample, a target mean on or outside the range of
        the base sample, or no convergence within ``maxiter`` Newton steps (the message
        names the trial).
    """
    H = np.asarray(H, dtype=float)
    mu = np.asarray(mu, dtype=float)
    n, q = H.shape
    names = list(features) if features is not None else [f"h{j}" for j in range(q)]
    c = H.mean(axis=0)
    s = H.std(axis=0)
    for j in range(q):
        if s[j] == 0:
            raise DataError(f"tilting trial {trial!r}: feature {names[j]!r} is constant in the "
                            "base sample, so it cannot be tilted; use a base sample in which "
                            "it varies or leave it out of tilting=")
        lo, hi = H[:, j].min(), H[:, j].max()
        if not lo < mu[j] < hi:
            raise DataError(
                f"exponential tilting for trial {trial!r} cannot converge: the reported mean "
                f"{mu[j]:.4g} of {names[j]!r} lies outside the range ({lo:.4g}, {hi:.4g}) of "
                "the base sample; check this trial's covariate summaries or use a base "
                "sample that covers its population"
            )
    Ht = np.column_stack([np.ones(n), (H - c) / s])
    mt = np.concatenate([[1.0], (mu - c) / s])
    lam = np.zeros(q + 1)

    def objective(lam):
        eta = np.clip(Ht @ lam, -700, 700)
        w = np.exp(eta)
        return w.mean() - lam @ mt, w

    f, w = objective(lam)
    it = 0
    converged = False
    grad = Ht.T @ w / n - mt
    while it < maxiter:
        it += 1
        hess = (Ht * w[:, None]).T @ Ht / n
        try:
            step = np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:
            step = np.linalg.lstsq(hess, grad, rcond=None)[0]
        dec = float(grad @ step)
        t = 1.0
        for _ in range(60):
            f_new, w_new = objective(lam - t * step)
            # in the quadratic regime the decrease is below rounding: take the full step
            if np.isfinite(f_new) and (f_new <= f - 0.25 * t * dec or dec < 1e-14):
                break
            t *= 0.5
        else:
            break
        lam = lam - t * step
        f, w = f_new, w_new
        grad = Ht.T @ w / n - mt
        if np.max(np.abs(grad)) < tol:
            converged = True
            break
    Hp = np.column_stack([np.ones(n), H])
    mup = np.concatenate([[1.0], mu])
    err = float(np.max(np.abs(Hp.T @ w / n - mup)))
    scale = np.concatenate([[1.0], np.maximum(np.abs(mu), 1.0)])
    if not converged or not np.all(np.abs(Hp.T @ w / n - mup) <= 1e-6 * scale):
        raise DataError(
            f"exponential tilting for trial {trial!r} did not converge after {it} Newton "
            f"steps (largest moment error {err:.3g}); its reported covariate moments may be "
            "incompatible with the base sample (e.g. a proportion near 0 or 1, or means "
            "and SDs that the base sample cannot reach): check this trial's covariate "
            "summaries, simplify tilting=, or use a base sample that covers its population"
        )
    coef = np.concatenate([[lam[0] - np.sum(lam[1:] * c / s)], lam[1:] / s])
    return TiltingFit(trial=trial, coef=coef, weights=w, iterations=it, max_error=err)


# =========================================================================== nearPD
def nearest_pd(
    x: np.ndarray,
    *,
    corr: bool = False,
    eig_tol: float = 1e-6,
    conv_tol: float = 1e-7,
    posd_tol: float = 1e-8,
    maxit: int = 100,
) -> np.ndarray:
    """Nearest positive definite matrix (Higham 2002, alternating projections with
    Dykstra's correction), with the defaults of R ``Matrix::nearPD``.

    ``corr=True`` projects onto correlation matrices (unit diagonal). A final
    eigenvalue floor at ``posd_tol`` times the largest eigenvalue makes the result
    positive definite.
    """
    X = (np.asarray(x, dtype=float) + np.asarray(x, dtype=float).T) / 2
    DS = np.zeros_like(X)
    for _ in range(maxit):
        Y = X
        R = Y - DS
        d, Q = np.linalg.eigh(R)
        d, Q = d[::-1], Q[:, ::-1]
        keep = d > eig_tol * d[0]
        if not keep.any():
            raise DataError("nearest_pd: the matrix seems negative semi-definite")
        Qk = Q[:, keep]
        X = (Qk * d[keep]) @ Qk.T
        DS = X - R
        if corr:
            np.fill_diagonal(X, 1.0)
        conv = np.abs(Y - X).sum(axis=1).max() / np.abs(Y).sum(axis=1).max()
        if conv <= conv_tol:
            break
    d, Q = np.linalg.eigh(X)
    d, Q = d[::-1], Q[:, ::-1]
    eps = posd_tol * abs(d[0])
    if d[-1] < eps:
        d = np.maximum(d, eps)
        o_diag = np.diag(X).copy()
        X = (Q * d) @ Q.T
        D = np.sqrt(np.maximum(eps, o_diag) / np.diag(X))
        X = D[:, None] * X * D[None, :]
    if corr:
        np.fill_diagonal(X, 1.0)
    return X


# =========================================================================== results
@dataclass(frozen=True)
class CIMAEstimate:
    """A scalar estimate with its standard error and Wald interval."""

    estimate: float
    se: float
    ci: tuple[float, float]
    ci_prob: float = 0.95

    def summary(self) -> pd.DataFrame:
        return pd.DataFrame({"estimate": [self.estimate], "se": [self.se],
                             "ci_low": [self.ci[0]], "ci_high": [self.ci[1]]})


def _wald(est: np.ndarray, se: np.ndarray, ci_prob: float) -> tuple[np.ndarray, np.ndarray]:
    z = stats.norm.ppf(0.5 + ci_prob / 2)
    return est - z * se, est + z * se


@dataclass(eq=False)
class CIMAResult:
    """Result of :func:`cima`.

    Attributes
    ----------
    coef : pandas.DataFrame
        CATE coefficients, indexed by term: ``estimate, se, ci_low, ci_high``.
    vcov : pandas.DataFrame
        Their sandwich covariance :math:`V_\\theta`.
    ate : CIMAEstimate
        Target-population ATE: ``.estimate``, ``.se``, ``.ci``.
    subgroups : pandas.DataFrame
        Target-population effect of every reported (one-at-a-time) stratum:
        ``subgroup, stratum, n_target, estimate, se, ci_low, ci_high``.
    moments : pandas.DataFrame
        Per reported effect: the reported estimate and SE, its share ``prop``, the
        tilted share of the stratum in the base sample, the fitted moment and residual.
    tilting : pandas.DataFrame
        Per trial: tilting coefficients (original feature scale), Newton iterations,
        largest moment error, effective sample size of the weights.
    options : dict
        The options used.
    """

    coef: pd.DataFrame
    vcov: pd.DataFrame
    ate: CIMAEstimate
    subgroups: pd.DataFrame
    moments: pd.DataFrame
    tilting: pd.DataFrame
    options: dict
    omega: np.ndarray = field(repr=False)
    D: np.ndarray = field(repr=False)
    W: np.ndarray = field(repr=False)
    target: pd.DataFrame = field(repr=False)
    cate_terms: list[Term] = field(repr=False)
    kinds: dict[str, str] = field(repr=False)

    @property
    def theta(self) -> np.ndarray:
        return self.coef["estimate"].to_numpy()

    @property
    def ci_prob(self) -> float:
        return float(self.options["ci_prob"])

    def _target_design(self) -> np.ndarray:
        return _design(self.cate_terms, self.target, what="target sample")

    def _average(self, B: np.ndarray, mask: np.ndarray | None = None) -> tuple[float, float]:
        if mask is not None:
            B = B[mask]
        if B.shape[0] == 0:
            return np.nan, np.nan
        g = B @ self.theta
        psi = float(g.mean())
        bbar = B.mean(axis=0)
        var = float(((g - psi) ** 2).sum() / B.shape[0] ** 2
                    + bbar @ self.vcov.to_numpy() @ bbar)
        return psi, float(np.sqrt(max(var, 0.0)))

    def cate(self, newdata: pd.DataFrame) -> pd.DataFrame:
        """CATE :math:`b(x)'\\hat\\theta` with its SE and Wald interval, one row per row
        of ``newdata``."""
        B = _design(self.cate_terms, newdata, what="newdata")
        est = B @ self.theta
        se = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", B, self.vcov.to_numpy(), B), 0))
        lo, hi = _wald(est, se, self.ci_prob)
        return pd.DataFrame({"estimate": est, "se": se, "ci_low": lo, "ci_high": hi},
                            index=newdata.index)

    def subgroup_effects(self, by: Mapping[str, Sequence]) -> pd.DataFrame:
        """Target-population effects of joint subgroups.

        Parameters
        ----------
        by : mapping
            ``covariate -> strata`` (levels 0/1 of binary covariates, intervals
            ``"<=a"``, ``"<a"``, ``">a"``, ``">=a"``, ``"a-b"`` of numeric ones); every
            combination of strata is one joint subgroup, e.g.
            ``{"lvef": ["<=40", ">40"], "prehhf": [0, 1], "diabetes": [0, 1]}``.

        Returns
        -------
        pandas.DataFrame
            One row per joint subgroup: one column per covariate (the stratum label),
            ``n_target, estimate, se, ci_low, ci_high``.
        """
        if not isinstance(by, Mapping) or not by:
            raise DataError("by must be a non-empty mapping covariate -> strata")
        parsed: dict[str, list[Stratum]] = {}
        for cov, levels in by.items():
            if cov not in self.target.columns:
                raise DataError(f"subgroup covariate {cov!r} is not a column of the target "
                                f"sample ({list(self.target.columns)})")
            kind = self.kinds.get(cov, "continuous")
            if isinstance(levels, str | int | float):
                levels = [levels]
            parsed[cov] = [parse_stratum(v, kind=kind, where=f"subgroup {cov!r}")  # type: ignore[arg-type]
                           for v in levels]
        B = self._target_design()
        rows = []
        for combo in itertools.product(*parsed.values()):
            mask = np.ones(len(self.target), dtype=bool)
            for cov, st in zip(parsed, combo, strict=True):
                mask &= st.mask(self.target[cov].to_numpy(dtype=float))
            est, se = self._average(B, mask)
            row = {cov: st.label for cov, st in zip(parsed, combo, strict=True)}
            row.update(n_target=int(mask.sum()), estimate=est, se=se)
            rows.append(row)
        out = pd.DataFrame(rows)
        out["ci_low"], out["ci_high"] = _wald(out["estimate"].to_numpy(),
                                              out["se"].to_numpy(), self.ci_prob)
        return out

    def summary(self) -> pd.DataFrame:
        """The target ATE and the CATE coefficients: ``estimate, se, ci_low, ci_high``."""
        ate = self.ate.summary()
        ate.index = ["ATE (target)"]
        return pd.concat([ate, self.coef])

    def __repr__(self) -> str:
        lo, hi = self.ate.ci
        return (f"CIMAResult(ATE={self.ate.estimate:.4g} [{lo:.4g}, {hi:.4g}], "
                f"terms={list(self.coef.index)}, trials={list(self.tilting.index)})")


# =========================================================================== inputs
def _is_summary_frame(df: pd.DataFrame) -> bool:
    return {"covariate", "mean"}.issubset(df.columns)


def _individual_rows(df: pd.DataFrame, needed: Sequence[str], kinds: Mapping[str, str],
                     what: str) -> pd.DataFrame:
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise DataError(f"the {what} has no columns {missing}; it needs one column per "
                        f"covariate used ({list(needed)})")
    if len(df) < 2:
        raise DataError(f"the {what} needs at least 2 rows, has {len(df)}")
    out = pd.DataFrame(index=df.index)
    for c in needed:
        try:
            v = pd.to_numeric(df[c], errors="raise").to_numpy(dtype=float)
        except (ValueError, TypeError) as err:
            raise DataError(f"{what} column {c!r} must be numeric ({err})") from err
        bad = ~np.isfinite(v)
        if bad.any():
            raise DataError(f"{what} column {c!r} has missing or non-finite values in "
                            f"{int(bad.sum())} rows; impute or remove them")
        if kinds.get(c) == "binary" and not np.isin(v, (0.0, 1.0)).all():
            raise DataError(f"{what} column {c!r} must be 0/1: the covariate summaries give it "
                            "as a proportion (empty sd)")
        out[c] = v
    return out.reset_index(drop=True)


def _trial_sizes(eff: pd.DataFrame, cov: CovariateSummary, trials: list[str]) -> np.ndarray:
    sizes = []
    for t in trials:
        e = eff[eff["trial"] == t]
        n_ov = e.loc[e["subgroup"] == OVERALL, "n"].dropna()
        if len(n_ov):
            sizes.append(float(n_ov.iloc[0]))
            continue
        if e["n"].notna().any():
            sizes.append(float(e["n"].max()))
            continue
        if "n" in cov.frame.columns:
            v = cov.frame.loc[cov.frame["trial"] == t, "n"].dropna()
            if len(v):
                sizes.append(float(v.max()))
                continue
        raise DataError(f"trial {t!r}: its size is unknown (no 'n' in its effects rows or its "
                        "covariate summaries); the variance of the reported means needs it")
    return np.asarray(sizes)


# =========================================================================== core
def _reported_cov(
    se: np.ndarray, prop: np.ndarray, is_overall: np.ndarray, subgroup: np.ndarray,
    masks: np.ndarray, w: np.ndarray, correlation: Correlation,
) -> np.ndarray:
    """Working covariance of one trial's reported effects (method note, section 4)."""
    J = len(se)
    C = np.eye(J)
    for a, b in itertools.combinations(range(J), 2):
        if is_overall[a] != is_overall[b]:
            o, s = (a, b) if is_overall[a] else (b, a)
            c = prop[s] * se[s] / se[o]
        else:
            overlap = float(np.mean(w * masks[:, a] * masks[:, b]))
            if not is_overall[a] and subgroup[a] == subgroup[b] and overlap == 0.0:
                c = 0.0  # disjoint strata of one covariate
            elif correlation == "paper":
                c = overlap / np.sqrt(prop[a] * prop[b])
            else:
                c = overlap / (prop[a] * prop[b])
        C[a, b] = C[b, a] = np.clip(c, -0.999, 0.999)
    if correlation == "reference":
        C = nearest_pd(C, corr=True)
        V = se[:, None] * C * se[None, :]
        return nearest_pd(V)
    V = se[:, None] * C * se[None, :]
    if np.linalg.eigvalsh(V).min() <= 0:
        V = nearest_pd(V)
    return V


def _omega(theta, A, B, tau, Ht, mus, wts, trial_idx, Vrep, sizes, *,
           psd: bool = False) -> np.ndarray:
    """Variance of the moment vector (method note, section 4).

    ``psd=False``: the reference formula (M centred at the reported effects; per-trial
    tilting influences Phi_k with the cross term 2 M'Phi_k; no cross-trial Phi terms),
    which need not be positive semi-definite. ``psd=True``: the influence-function form
    of the paper's appendix A.6, (M + sum_k Phi_k)'(M + sum_k Phi_k) / n_q^2 with M
    centred at its column means, plus the same reported-effect and reported-mean
    terms: positive semi-definite by construction (used to weight a second GMM step).
    """
    nq, J = A.shape
    g = B @ theta
    M = A * g[:, None]
    M = M - (M.mean(axis=0) if psd else tau)[None, :]
    Om = np.zeros((J, J)) if psd else M.T @ M / nq**2
    infl = M.copy()
    ph = Ht.shape[1]
    for k, (mu, w) in enumerate(zip(mus, wts, strict=True)):
        idx = np.flatnonzero(trial_idx == k)
        Ak = np.zeros((J, ph))
        Ak[idx] = (A[:, idx] * g[:, None]).T @ Ht / nq
        Hk = (Ht * w[:, None]).T @ Ht / nq
        Gk = -Ak @ np.linalg.inv(Hk + 1e-8 * np.eye(ph))
        dev = Ht * w[:, None] - mu[None, :]
        Phi = dev @ Gk.T
        if psd:
            infl += Phi
        else:
            Om += (Phi.T @ Phi + 2 * M.T @ Phi) / nq**2
        Om[np.ix_(idx, idx)] += Vrep[k]
        cen = Ht - mu[None, :]
        Sig = (cen * w[:, None]).T @ cen / nq
        Om += Gk @ Sig @ Gk.T / sizes[k]
    if psd:
        Om += infl.T @ infl / nq**2
    return Om


def _floor_psd(V: np.ndarray, floor: float = 1e-8) -> np.ndarray:
    V = (V + V.T) / 2
    d, Q = np.linalg.eigh(V)
    return (Q * np.maximum(d, floor)) @ Q.T


# =========================================================================== API
def cima(
    effects: pd.DataFrame,
    covariates: pd.DataFrame | CovariateSummary,
    target: pd.DataFrame | CovariateSummary,
    cate: str = "~ x1 + x2",
    tilting: str | None = None,
    base: pd.DataFrame | None = None,
    *,
    weights: Weights = "reference",
    steps: Literal[1, 2] = 1,
    representer: Representer = "reported",
    correlation: Correlation = "reference",
    target_corr: pd.DataFrame | np.ndarray | None = None,
    target_n: int = 50_000,
    target_method: CopulaMethod = "sobol",
    seed: int | None = None,
    ci_prob: float = 0.95,
) -> CIMAResult:
    r"""Causally interpretable meta-analysis from aggregate data (CIMA-AgD).

    Estimates a linear-in-parameters CATE :math:`\tau(x;\theta) = b(x)'\theta` from the
    trials' reported overall and one-at-a-time subgroup effects and covariate
    summaries (exponential tilting + GMM), and marginalises it over a target
    population (see the module docstring for the estimator and its variance).

    Parameters
    ----------
    effects : pandas.DataFrame
        Reported effects on the additive scale (e.g. risk differences): columns
        ``trial, subgroup, stratum, estimate, se, n`` and optionally ``prop``
        (see :func:`bayes_hte.data.summaries.validate_effects`).
    covariates : DataFrame or CovariateSummary
        Per-trial summaries: ``trial, covariate, mean, sd`` (empty ``sd`` for a binary
        covariate, whose ``mean`` is its proportion).
    target : DataFrame or CovariateSummary
        The target population: individual covariate rows (one column per covariate),
        or a summary (``covariate, mean, sd`` frame with ``target_corr``, or a
        :class:`CovariateSummary` with its ``corr``) from which ``target_n`` rows are
        generated by a Gaussian copula.
    cate : str
        CATE working model, e.g. ``"~ lvef + prehhf + diabetes"`` (intercept implied).
    tilting : str, optional
        Tilting features, e.g. ``"~ lvef + I(lvef^2) + prehhf + diabetes"``. Default:
        the mean of every covariate in ``covariates`` plus the square of each
        continuous one (i.e. means and SDs are matched).
    base : DataFrame, optional
        Base sample :math:`Q` that is tilted to each trial. Default: the target sample.
    weights : {"reference", "inverse_variance"}
        First-step GMM weighting: ``"reference"`` (CIMAgD)
        :math:`W_k = (n_k\,\mathrm{diag}(s^2) + 10^{-8}I)^{-1}`; ``"inverse_variance"``
        :math:`W = \mathrm{diag}(1/s^2)` (the paper's diagonal first step).
    steps : {1, 2}
        ``2`` re-estimates with :math:`W = \hat\Omega^{-1}` (two-step GMM).
    representer : {"reported", "tilted"}
        Divide stratum representers by the reported share :math:`p_j` (CIMAgD) or by
        the tilted share :math:`\overline{w_k 1\{S_j\}}` (the paper's
        :math:`w_k 1_{S_j}/P_k(S_j)`).
    correlation : {"reference", "paper"}
        Working correlation of two subgroup effects defined by different covariates:
        overlap/:math:`(p_jp_{j'})` followed by ``nearPD`` twice (CIMAgD) or
        overlap/:math:`\sqrt{p_jp_{j'}}` (the paper's difference-in-means approximation).
    target_corr : DataFrame or array, optional
        Latent correlation matrix when ``target`` is a summary frame.
    target_n, target_method, seed
        Size and point set of the copula sample (see
        :func:`bayes_hte.data.summaries.gaussian_copula_sample`).
    ci_prob : float
        Coverage of the Wald intervals.

    Returns
    -------
    CIMAResult
        ``.coef``, ``.ate``, ``.subgroups``, ``.subgroup_effects(by)``, ``.summary()``.

    Raises
    ------
    DataError
        Invalid effects, summaries or samples (see the validators); fewer reported
        effects than CATE parameters or a CATE not identified by the reported strata;
        exponential tilting that does not converge (names the trial).

    Examples
    --------
    >>> import bayes_hte as bh
    >>> d = bh.datasets.sglt2_hf()
    >>> fit = bh.comparators.cima(d.effects, d.covariates, d.target,
    ...                           cate="~ lvef + prehhf + diabetes")
    >>> round(fit.ate.estimate, 4)
    -0.0365
    """
    if weights not in ("reference", "inverse_variance"):
        raise DataError(f"weights must be 'reference' or 'inverse_variance', got {weights!r}")
    if steps not in (1, 2):
        raise DataError(f"steps must be 1 or 2, got {steps!r}")
    if representer not in ("reported", "tilted"):
        raise DataError(f"representer must be 'reported' or 'tilted', got {representer!r}")
    if correlation not in ("reference", "paper"):
        raise DataError(f"correlation must be 'reference' or 'paper', got {correlation!r}")
    if not 0 < ci_prob < 1:
        raise DataError(f"ci_prob must lie in (0, 1), got {ci_prob!r}")

    cov = covariates if isinstance(covariates, CovariateSummary) else \
        CovariateSummary.from_frame(covariates)
    if not cov.trials:
        raise DataError("the covariates table needs a 'trial' column (one block of rows per "
                        "trial)")
    eff = validate_effects(effects, cov)
    kinds = dict(cov.kinds)
    trials = list(dict.fromkeys(eff["trial"]))

    cate_terms = parse_formula(cate, what="cate")
    if tilting is None:
        tilt_terms = []
        for c in cov.covariates:
            tilt_terms += parse_formula(f"~ {c}" + (f" + I({c}^2)" if kinds[c] == "continuous"
                                                     else ""), what="tilting")
    else:
        tilt_terms = parse_formula(tilting, what="tilting")
    if not tilt_terms:
        raise DataError("tilting needs at least one feature")
    sub_vars = sorted(set(eff.loc[eff["subgroup"] != OVERALL, "subgroup"]))
    cate_vars = list(dict.fromkeys(v for t in cate_terms for v in t.variables))
    tilt_vars = list(dict.fromkeys(v for t in tilt_terms for v in t.variables))
    needed = list(dict.fromkeys(cate_vars + tilt_vars + sub_vars))

    # target and base samples ---------------------------------------------------
    if isinstance(target, CovariateSummary) or (isinstance(target, pd.DataFrame)
                                                and _is_summary_frame(target)):
        ts = target if isinstance(target, CovariateSummary) else \
            CovariateSummary.from_frame(target, corr=target_corr)
        if target_corr is not None and isinstance(target, CovariateSummary):
            raise DataError("target_corr is for a summary frame; a CovariateSummary carries "
                            "its own corr")
        miss = [v for v in cate_vars + sub_vars if v not in ts.kinds]
        if miss:
            raise DataError(f"the target summary has no rows for {miss}; it needs every "
                            "covariate of the CATE and of the reported subgroups")
        for v, k in ts.kinds.items():
            if v in kinds and kinds[v] != k:
                raise DataError(f"covariate {v!r} is {kinds[v]} in the trials' summaries but "
                                f"{k} in the target summary")
        target_rows = ts.sample(target_n, method=target_method, seed=seed)
        target_source = f"copula ({target_method}, n={target_n})"
    elif isinstance(target, pd.DataFrame):
        if target_corr is not None:
            raise DataError("target_corr only applies when target is a summary frame")
        target_rows = target
        target_source = f"individual rows (n={len(target)})"
    else:
        raise DataError(f"target must be a DataFrame (rows or a summary) or a "
                        f"CovariateSummary, got {type(target).__name__}")
    tgt_needed = [c for c in needed if c in target_rows.columns or c in cate_vars + sub_vars]
    T = _individual_rows(target_rows, tgt_needed, kinds, "target sample")
    if base is None:
        Q = _individual_rows(target_rows, needed, kinds, "base sample (the target sample)")
        base_source = "target sample"
    elif isinstance(base, pd.DataFrame):
        Q = _individual_rows(base, needed, kinds, "base sample")
        base_source = f"individual rows (n={len(base)})"
    else:
        raise DataError(f"base must be a DataFrame of covariate rows or None, got "
                        f"{type(base).__name__}")
    nq = len(Q)

    # design and tilting features -------------------------------------------------
    B = _design(cate_terms, Q, what="base sample")
    p = B.shape[1]
    Hraw = _design(tilt_terms, Q, intercept=False, what="base sample")
    labels = [t.label for t in tilt_terms]
    J = len(eff)
    term_names = ["(Intercept)"] + [t.label for t in cate_terms]
    if J < p:
        raise DataError(
            f"CATE {cate!r} is not identified: it has {p} parameters ({term_names}) but only "
            f"{J} treatment effects are reported; at least {p} reported effects are needed "
            "(add subgroup effects or simplify the CATE)"
        )

    fits: list[TiltingFit] = []
    mus_raw = []
    for t in trials:
        rows = cov.rows(t)
        mu = np.array([_term_moment(term, rows, kinds, t) for term in tilt_terms])
        mus_raw.append(mu)
        fits.append(solve_tilting(Hraw, mu, trial=t, features=labels))
    trial_idx = eff["trial"].map({t: i for i, t in enumerate(trials)}).to_numpy()

    # representers ---------------------------------------------------------------
    masks = np.empty((nq, J), dtype=float)
    for j, st in enumerate(eff["_stratum"]):
        sg = eff.at[j, "subgroup"]
        masks[:, j] = 1.0 if sg == OVERALL else st.mask(Q[sg].to_numpy())
    prop = eff["prop"].to_numpy(dtype=float)
    tilted_share = np.array([np.mean(fits[trial_idx[j]].weights * masks[:, j])
                             for j in range(J)])
    empty = tilted_share <= 0
    if empty.any():
        j = int(np.flatnonzero(empty)[0])
        raise DataError(f"no base-sample rows fall in stratum {eff.at[j, 'stratum']!r} of "
                        f"{eff.at[j, 'subgroup']!r} (trial {eff.at[j, 'trial']!r}); use a "
                        "base sample that covers every reported stratum")
    denom = prop if representer == "reported" else tilted_share
    A = np.column_stack([fits[trial_idx[j]].weights * masks[:, j] / denom[j]
                         for j in range(J)])
    D = A.T @ B / nq
    tau = eff["estimate"].to_numpy(dtype=float)
    se = eff["se"].to_numpy(dtype=float)

    Dn = D / np.linalg.norm(D, axis=0, keepdims=True).clip(min=1e-300)
    sv = np.linalg.svd(Dn, compute_uv=False)
    rank = int(np.sum(sv > 1e-8 * sv[0]))
    if rank < p:
        raise DataError(
            f"CATE {cate!r} is not identified by the reported effects: the {J} moment "
            f"equations determine only {rank} of its {p} parameters ({term_names}); report "
            "subgroups on the CATE's covariates, use trials that differ in them, or simplify "
            "the CATE"
        )

    # weighting matrix ---------------------------------------------------------------
    sizes = _trial_sizes(eff, cov, trials)
    W = np.zeros((J, J))
    if weights == "reference":
        for k in range(len(trials)):
            idx = np.flatnonzero(trial_idx == k)
            W[np.ix_(idx, idx)] = np.linalg.inv(sizes[k] * np.diag(se[idx] ** 2)
                                                + 1e-8 * np.eye(len(idx)))
    else:
        W = np.diag(1.0 / se**2)

    # reported covariance and standardised tilting features for Omega -----------------
    is_ov = (eff["subgroup"] == OVERALL).to_numpy()
    subgroup = eff["subgroup"].to_numpy()
    Vrep = []
    for k in range(len(trials)):
        idx = np.flatnonzero(trial_idx == k)
        Vrep.append(_reported_cov(se[idx], prop[idx], is_ov[idx], subgroup[idx],
                                  masks[:, idx], fits[k].weights, correlation))
    c, s = Hraw.mean(axis=0), Hraw.std(axis=0)
    Ht = np.column_stack([np.ones(nq), (Hraw - c) / s])
    mus = [np.concatenate([[1.0], (mu - c) / s]) for mu in mus_raw]
    wts = [f.weights for f in fits]

    def gmm(Wm):
        return np.linalg.solve(D.T @ Wm @ D, D.T @ Wm @ tau)

    theta = gmm(W)
    Om = _omega(theta, A, B, tau, Ht, mus, wts, trial_idx, Vrep, sizes)
    if steps == 2:
        redundant = [t for k, t in enumerate(trials) if is_ov[trial_idx == k].any() and any(
            prop[(trial_idx == k) & (subgroup == sg)].sum() > 0.99
            for sg in set(subgroup[(trial_idx == k) & ~is_ov]))]
        if redundant:
            warnings.warn(
                f"steps=2: trials {redundant} report their overall effect and a complete "
                "set of strata of one covariate, so the moment covariance is nearly "
                "singular and its working approximation (unreported covariances) is "
                "least reliable exactly there; the second GMM step can then be badly "
                "biased with too-small standard errors (docs/cima.md). Prefer steps=1.",
                DataWarning, stacklevel=2)
        Om2 = _omega(theta, A, B, tau, Ht, mus, wts, trial_idx, Vrep, sizes, psd=True)
        W = np.linalg.inv(_floor_psd(Om2, 1e-12 * np.abs(np.diag(Om2)).max()))
        theta = gmm(W)
        Om = _omega(theta, A, B, tau, Ht, mus, wts, trial_idx, Vrep, sizes)
    Jt = -np.linalg.solve(D.T @ W @ D + 1e-8 * np.eye(p), D.T @ W)
    V = _floor_psd(Jt @ Om @ Jt.T)

    se_theta = np.sqrt(np.diag(V))
    lo, hi = _wald(theta, se_theta, ci_prob)
    coef = pd.DataFrame({"estimate": theta, "se": se_theta, "ci_low": lo, "ci_high": hi},
                        index=pd.Index(term_names, name="term"))
    vcov = pd.DataFrame(V, index=term_names, columns=term_names)

    fitted = D @ theta
    moments = eff[["trial", "subgroup", "stratum", "estimate", "se", "n", "prop",
                   "prop_source"]].copy()
    moments["tilted_prop"] = tilted_share
    moments["fitted"] = fitted
    moments["residual"] = fitted - tau
    tilt_tab = pd.DataFrame(
        [f.coef for f in fits], index=pd.Index(trials, name="trial"),
        columns=["(Intercept)"] + labels)
    tilt_tab["iterations"] = [f.iterations for f in fits]
    tilt_tab["max_error"] = [f.max_error for f in fits]
    tilt_tab["ess"] = [f.weights.sum() ** 2 / (f.weights**2).sum() for f in fits]

    res = CIMAResult(
        coef=coef, vcov=vcov, ate=CIMAEstimate(np.nan, np.nan, (np.nan, np.nan), ci_prob),
        subgroups=pd.DataFrame(), moments=moments, tilting=tilt_tab,
        options=dict(cate=cate, tilting="~ " + " + ".join(labels), weights=weights,
                     steps=steps, representer=representer, correlation=correlation,
                     ci_prob=ci_prob, target=target_source, base=base_source, n_base=nq,
                     n_target=len(T)),
        omega=Om, D=D, W=W, target=T, cate_terms=cate_terms, kinds=kinds,
    )
    BT = res._target_design()
    est, sd = res._average(BT)
    lo_, hi_ = _wald(np.array(est), np.array(sd), ci_prob)
    res.ate = CIMAEstimate(est, sd, (float(lo_), float(hi_)), ci_prob)
    rows = []
    seen = set()
    for j in range(J):
        if is_ov[j]:
            continue
        key = (eff.at[j, "subgroup"], eff.at[j, "stratum"])
        if key in seen:
            continue
        seen.add(key)
        st = eff.at[j, "_stratum"]
        m = st.mask(T[key[0]].to_numpy())
        e_, s_ = res._average(BT, m)
        rows.append(dict(subgroup=key[0], stratum=key[1], n_target=int(m.sum()),
                         estimate=e_, se=s_))
    sub = pd.DataFrame(rows, columns=["subgroup", "stratum", "n_target", "estimate", "se"])
    sub["ci_low"], sub["ci_high"] = _wald(sub["estimate"].to_numpy(dtype=float),
                                          sub["se"].to_numpy(dtype=float), ci_prob)
    res.subgroups = sub
    return res


def cima_indirect(b_vs_a: CIMAResult, c_vs_a: CIMAResult, *,
                  ci_prob: float | None = None) -> CIMAEstimate:
    r"""Indirect comparison B vs C through a common comparator A, in the target.

    With :math:`\hat\tau_{BA}` and :math:`\hat\tau_{CA}` fitted by :func:`cima` from two
    independent sets of trials (B vs A and C vs A) against the *same* target sample,

    .. math::

        \hat\psi_{BC} = \frac1{N_T}\sum_l \{\hat\tau_{BA}(x_l) - \hat\tau_{CA}(x_l)\},
        \qquad
        \widehat{\mathrm{Var}} = \frac1{N_T^2}\sum_l(\Delta\hat g_l - \hat\psi_{BC})^2
        + \bar b_{BA}'V_{BA}\bar b_{BA} + \bar b_{CA}'V_{CA}\bar b_{CA}.

    Raises
    ------
    DataError
        The two fits were marginalised over different target samples.
    """
    for r in (b_vs_a, c_vs_a):
        if not isinstance(r, CIMAResult):
            raise DataError(f"cima_indirect needs two CIMAResult objects, got {type(r).__name__}")
    t1, t2 = b_vs_a.target, c_vs_a.target
    common = [c for c in t1.columns if c in t2.columns]
    if len(t1) != len(t2) or not np.array_equal(t1[common].to_numpy(), t2[common].to_numpy()):
        raise DataError("the B-vs-A and C-vs-A fits were marginalised over different target "
                        "samples; fit both against the same target rows (or the same summary, "
                        "target_n and target_method)")
    ci_prob = b_vs_a.ci_prob if ci_prob is None else ci_prob
    B1, B2 = b_vs_a._target_design(), c_vs_a._target_design()
    dg = B1 @ b_vs_a.theta - B2 @ c_vs_a.theta
    psi = float(dg.mean())
    b1, b2 = B1.mean(axis=0), B2.mean(axis=0)
    var = (((dg - psi) ** 2).sum() / len(dg) ** 2 + b1 @ b_vs_a.vcov.to_numpy() @ b1
           + b2 @ c_vs_a.vcov.to_numpy() @ b2)
    se = float(np.sqrt(var))
    lo, hi = _wald(np.array(psi), np.array(se), ci_prob)
    return CIMAEstimate(psi, se, (float(lo), float(hi)), ci_prob)

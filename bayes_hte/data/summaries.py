r"""Aggregate data from trial reports: reported effects, covariate summaries, copulas.

Three kinds of published summaries feed the aggregate-data comparators (CIMA-AgD,
:func:`bayes_hte.comparators.cima`):

*reported effects* (one row per reported treatment effect)
    columns ``trial, subgroup, stratum, estimate, se, n`` and optionally ``prop``.
    ``subgroup`` is ``"overall"`` or the name of one covariate (subgroups one at a
    time); ``stratum`` is a level of a binary covariate (``0``/``1``, also
    ``"no"``/``"yes"``) or an interval of a numeric one written ``"<=a"``, ``"<a"``,
    ``">a"``, ``">=a"`` or ``"a-b"`` (meaning :math:`a \le x < b`); overall rows leave it
    empty. ``prop`` is the share of the trial in the stratum; when it is missing it is
    ``n / n_overall`` with ``n_overall`` the ``n`` of the trial's overall row.
    Validated by :func:`validate_effects`.
*covariate summaries* (:class:`CovariateSummary`)
    columns ``covariate, mean, sd`` (plus ``trial`` when several populations are
    described, and optionally ``n``, ``min``, ``max``). An empty ``sd`` marks a binary
    covariate whose ``mean`` is a proportion; a given ``sd`` marks a continuous one.
*a target population given by summaries*
    a one-population :class:`CovariateSummary` with a correlation matrix, from which
    :meth:`CovariateSummary.sample` draws individual covariate rows by a Gaussian
    copula (:func:`gaussian_copula_sample`).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats
from scipy.stats import qmc

from bayes_hte.data.checks import check_unique_column, real_values
from bayes_hte.data.marginals import truncated_normal_parameters
from bayes_hte.errors import DataError, DataWarning, format_rows
from bayes_hte.options import CopulaMethod, CovariateKind, StratumKind, check_count

OVERALL = "overall"

EFFECT_COLUMNS = ("trial", "subgroup", "stratum", "estimate", "se", "n")
_OVERALL_STRATA = {"", "overall", "all", "true", "—", "-", "–"}
_YES = {"1", "1.0", "yes", "true", "y"}
_NO = {"0", "0.0", "no", "false", "n"}
_NUM = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_RANGE = re.compile(rf"^\s*({_NUM})\s*[-–—]\s*({_NUM})\s*$")
_BOUND = re.compile(rf"^\s*(<=|<|>=|>|≤|≥)\s*({_NUM})\s*$")


# --------------------------------------------------------------------------- strata
@dataclass(frozen=True)
class Stratum:
    """A subgroup stratum: everything (overall), a binary level, or an interval.

    ``mask(x)`` evaluates membership on covariate values ``x``. An interval ``"a-b"``
    is :math:`a \\le x < b`; open ends are ``-inf``/``inf``. Built by
    :func:`parse_stratum`; the fields below are also its (read-only) attributes.

    Parameters
    ----------
    kind : {"all", "level", "interval"}
        Everything (an overall row), one level of a binary covariate, or an interval
        of a numeric one.
    label : str
        The stratum as written in the effects table (e.g. ``"1"``, ``"40-50"``,
        ``">=60"``), or ``"overall"``.
    level : float, optional
        The covariate value of a ``"level"`` stratum (0.0 or 1.0).
    lo, hi : float
        Bounds of an ``"interval"`` stratum, in the covariate's unit (``-inf`` /
        ``inf`` for an open end).
    lo_closed, hi_closed : bool
        Whether ``lo`` / ``hi`` belong to the interval.
    """

    kind: StratumKind
    label: str
    level: float | None = None
    lo: float = -np.inf
    hi: float = np.inf
    lo_closed: bool = False
    hi_closed: bool = False

    def mask(self, x: np.ndarray) -> np.ndarray:
        """Which covariate values fall in the stratum.

        Parameters
        ----------
        x : array_like of float
            Values of the stratum's covariate (any shape; 0/1 for a binary one).

        Returns
        -------
        ndarray of bool
            Same shape as ``x``.
        """
        x = np.asarray(x, dtype=float)
        if self.kind == "all":
            return np.ones(x.shape, dtype=bool)
        if self.kind == "level":
            return x == self.level
        lo = x >= self.lo if self.lo_closed else x > self.lo
        hi = x <= self.hi if self.hi_closed else x < self.hi
        return lo & hi


def _missing(value) -> bool:
    return value is None or (np.ndim(value) == 0 and bool(pd.isna(value)))


def _label(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def parse_stratum(value: str | float | bool, *, kind: CovariateKind,
                  where: str) -> Stratum:
    """Parse one stratum of a covariate of the given kind.

    Parameters
    ----------
    value : str, int, float or bool
        ``0``/``1`` (or ``"no"``/``"yes"``, ``False``/``True``) for a binary covariate;
        ``"<=a"``, ``"<a"``, ``">a"``, ``">=a"`` or ``"a-b"`` (:math:`a \\le x < b`) for
        any numeric covariate.
    kind : {"binary", "continuous"}
        Kind of the covariate (from the covariate summaries).
    where : str
        Description of the row, used in error messages.

    Returns
    -------
    Stratum
        ``kind="interval"`` for the interval forms (any covariate), else
        ``kind="level"`` with ``level`` 0.0 or 1.0.

    Raises
    ------
    DataError
        Empty strata, a level that a binary covariate does not have, a level (rather
        than an interval) for a continuous covariate, an interval ``"a-b"`` with
        ``a >= b``.
    """
    if _missing(value):
        raise DataError(f"{where}: the stratum is empty; give a level (0/1) of a binary "
                        "covariate or an interval '<=a', '<a', '>a', '>=a', 'a-b'")
    label = _label(value)
    m = _BOUND.match(label)
    if m:
        op, a = m.group(1), float(m.group(2))
        op = {"≤": "<=", "≥": ">="}.get(op, op)
        if op in ("<", "<="):
            return Stratum("interval", label, hi=a, hi_closed=op == "<=")
        return Stratum("interval", label, lo=a, lo_closed=op == ">=")
    m = _RANGE.match(label)
    if m:
        a, b = float(m.group(1)), float(m.group(2))
        if not a < b:
            raise DataError(f"{where}: interval stratum {label!r} needs a < b (it means "
                            "a <= x < b)")
        return Stratum("interval", label, lo=a, hi=b, lo_closed=True, hi_closed=False)
    if kind == "continuous":
        raise DataError(
            f"{where}: stratum {label!r} of a continuous covariate must be an interval "
            "written '<=a', '<a', '>a', '>=a' or 'a-b' (a <= x < b)"
        )
    low = label.lower()
    if isinstance(value, bool | np.bool_):
        return Stratum("level", label, level=float(bool(value)))
    if low in _YES:
        return Stratum("level", label, level=1.0)
    if low in _NO:
        return Stratum("level", label, level=0.0)
    raise DataError(
        f"{where}: stratum {label!r} is not a level of this binary covariate; binary "
        "covariates (empty sd in the covariate summaries) have levels 0/1 (or no/yes)"
    )


# --------------------------------------------------------------------- summaries
def _require_columns(df: pd.DataFrame, cols: Sequence[str], what: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise DataError(f"{what} needs columns {list(cols)}; missing {missing} "
                        f"(has {list(map(str, df.columns))})")
    for c in cols:
        check_unique_column(df, c, what)


def _numeric(df: pd.DataFrame, col: str, what: str,
             rows: pd.Index | None = None) -> np.ndarray:
    """A column read as real numbers, NaN if empty; nothing is converted: text (even
    ``"0.12"``), booleans and complex numbers are refused (:func:`real_values`), as in
    every other input of the package.

    ``rows`` are the labels of the user's rows (``df`` may carry a fresh 0..n-1 index).
    """
    s = df[col]
    values, bad = real_values(s)
    if bad.any():
        rows = df.index if rows is None else rows
        shown = sorted({repr(v) for v in s[bad]})[:5]
        raise DataError(f"{what} column {col!r} must be numeric (real numbers), but has "
                        f"{', '.join(shown)} at {format_rows(rows[bad])}; nothing is "
                        "converted (text such as '0.12' too): fix these values, e.g. with "
                        "pd.to_numeric")
    return values


def _finite(df: pd.DataFrame, col: str, what: str,
            rows: pd.Index | None = None) -> np.ndarray:
    """A numeric column that must be finite in every row (:func:`_numeric` + check).

    ``rows`` are the labels of the user's rows (``df`` may carry a fresh 0..n-1 index).
    """
    values = _numeric(df, col, what, rows)
    bad = ~np.isfinite(values)
    if bad.any():
        rows = df.index if rows is None else rows
        raise DataError(f"{what}: {col!r} is missing or not finite at "
                        f"{format_rows(rows[bad])}")
    return values


def _corr_frame(corr, names: list[str]) -> pd.DataFrame:
    if isinstance(corr, pd.DataFrame):
        missing = [c for c in names if c not in corr.index or c not in corr.columns]
        if missing:
            raise DataError(f"the correlation matrix has no rows/columns for {missing}; it "
                            f"needs every covariate {names}")
        corr = corr.loc[names, names].to_numpy()
    R, not_number = real_values(corr)
    if R.shape != (len(names), len(names)):
        raise DataError(f"the correlation matrix has shape {R.shape}; it must be "
                        f"{len(names)} x {len(names)} in the order {names}")
    if not_number.any():
        shown = sorted({repr(v) for v in np.array(corr, dtype=object)[not_number]})[:5]
        raise DataError(f"the correlation matrix must hold numbers; it has {', '.join(shown)}")
    if not np.all(np.isfinite(R)):
        raise DataError("the correlation matrix has non-finite entries")
    if not np.allclose(R, R.T, atol=1e-10):
        raise DataError("the correlation matrix is not symmetric")
    if not np.allclose(np.diag(R), 1.0):
        raise DataError("the correlation matrix must have a unit diagonal")
    if np.any(np.abs(R) > 1):
        raise DataError("correlations must lie in [-1, 1]")
    try:
        np.linalg.cholesky(R)
    except np.linalg.LinAlgError as err:
        raise DataError("the correlation matrix is not positive definite; a Gaussian "
                        "copula needs a valid correlation matrix") from err
    return pd.DataFrame(R, index=names, columns=names)


@dataclass(frozen=True, eq=False)
class CovariateSummary:
    """Validated covariate summaries of one or several populations.

    Build it with :meth:`from_frame`. A continuous covariate has a mean and an SD
    (and optionally ``min``/``max`` for a truncated normal marginal); a binary one
    has an empty SD and a proportion in [0, 1] as its mean. The fields below are also
    its (read-only) attributes.

    Parameters
    ----------
    frame : pandas.DataFrame
        Validated copy: ``covariate, mean, sd`` (+ ``trial``, ``n``, ``min``, ``max``).
    corr : pandas.DataFrame or None
        Correlations of the latent Gaussian copula (one-population summaries only).
    kinds : dict of str to {"binary", "continuous"}
        ``covariate -> "binary" | "continuous"``.
    n : int or None
        Size of the population, when known (informative only).
    """

    frame: pd.DataFrame
    corr: pd.DataFrame | None = None
    kinds: dict[str, CovariateKind] = field(default_factory=dict)
    n: int | None = None

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        *,
        corr: pd.DataFrame | np.ndarray | None = None,
        n: int | None = None,
    ) -> CovariateSummary:
        """Validate a summary frame.

        Parameters
        ----------
        frame : pandas.DataFrame
            Columns ``covariate, mean, sd``; ``trial`` when several populations are
            summarised; optional ``n``, ``min``, ``max``. Copied, never modified.
        corr : DataFrame or array, optional
            Latent correlation matrix (covariates in the order of the frame when an
            array). Only for a one-population summary; default: independence.
        n : int, optional
            Size of the population described.

        Returns
        -------
        CovariateSummary
            The validated copy, with each covariate's kind (binary when ``sd`` is
            empty) and the correlation matrix as a labelled DataFrame.

        Raises
        ------
        DataError
            Missing columns or values, an SD <= 0, a proportion outside [0, 1], a
            covariate listed twice for a population, a covariate that is binary in
            one trial and continuous in another, an invalid correlation matrix.
        """
        if not isinstance(frame, pd.DataFrame):
            raise DataError(f"covariate summaries must be a pandas DataFrame, got "
                            f"{type(frame).__name__}")
        what = "covariate summaries"
        _require_columns(frame, ["covariate", "mean", "sd"], what)
        if len(frame) == 0:
            raise DataError("the covariate summaries have no rows")
        df = frame.copy().reset_index(drop=True)
        rows_of = frame.index  # the user's row labels, for the messages
        has_trial = "trial" in df.columns
        if df["covariate"].isna().any():
            raise DataError(f"{what}: column 'covariate' is empty at "
                            f"{format_rows(rows_of[df['covariate'].isna().to_numpy()])}")
        df["covariate"] = df["covariate"].map(lambda v: str(v).strip())
        if has_trial:
            if df["trial"].isna().any():
                raise DataError(f"{what}: column 'trial' is empty at "
                                f"{format_rows(rows_of[df['trial'].isna().to_numpy()])}")
            df["trial"] = df["trial"].map(lambda v: str(v).strip())
        mean = _finite(df, "mean", what, rows_of)
        sd = _numeric(df, "sd", what, rows_of)
        binary = np.isnan(sd)
        for bad, values, problem in (
            (np.isinf(sd) | (sd <= 0), sd, "'sd' must be > 0 (or empty for a binary "
             "covariate) but is {values} at {rows} (covariate {cov!r}); fix the SD"),
            (binary & ((mean < 0) | (mean > 1)), mean, "covariate {cov!r} has an empty "
             "'sd', so its 'mean' is a proportion, but it is {values} at {rows}: a "
             "proportion outside [0, 1]; give a proportion, or an SD for a continuous "
             "covariate"),
        ):
            if bad.any():
                rows = df.index[bad]
                raise DataError(f"{what}: " + problem.format(
                    values=values[bad].tolist()[:5], rows=format_rows(rows_of[bad]),
                    cov=df.loc[rows[0], "covariate"]))
        df["mean"] = mean
        df["sd"] = sd
        for col in ("n", "min", "max"):
            if col in df.columns:
                df[col] = _numeric(df, col, what, rows_of)
        if "n" in df.columns:
            v = df["n"].to_numpy()
            bad = ~np.isnan(v) & ~((v > 0) & np.isfinite(v))
            if bad.any():
                raise DataError(f"{what}: 'n' must be > 0 and finite at "
                                f"{format_rows(rows_of[bad])}")
        key = ["trial", "covariate"] if has_trial else ["covariate"]
        dup = df.duplicated(key, keep=False)
        if dup.any():
            first = tuple(df.loc[dup, key].iloc[0])
            raise DataError(f"{what}: {key} = {first} repeats at "
                            f"{format_rows(rows_of[dup.to_numpy()])}; give one row per "
                            "covariate and population")
        kinds: dict[str, CovariateKind] = {}
        for cov, grp in df.groupby("covariate", sort=False):
            k = set(np.where(np.isnan(grp["sd"].to_numpy()), "binary", "continuous"))
            if len(k) > 1:
                raise DataError(
                    f"{what}: covariate {cov!r} has an SD for some trials and none for "
                    f"others ({format_rows(rows_of[grp.index])}); it must be binary (no SD) or "
                    "continuous (SD) everywhere"
                )
            kinds[str(cov)] = k.pop()
        if "min" in df.columns or "max" in df.columns:
            lo = df["min"].to_numpy() if "min" in df.columns else np.full(len(df), np.nan)
            hi = df["max"].to_numpy() if "max" in df.columns else np.full(len(df), np.nan)
            bad = ~np.isnan(lo) & ~np.isnan(hi) & ~(lo < hi)
            bad |= (~np.isnan(lo) | ~np.isnan(hi)) & binary
            bad |= (lo == np.inf) | (hi == -np.inf)
            if bad.any():
                raise DataError(f"{what}: 'min'/'max' (truncated normal bounds) need "
                                f"min < max on a continuous covariate (min < inf, "
                                f"max > -inf); bad at "
                                f"{format_rows(rows_of[bad])}")
            mean = df["mean"].to_numpy(dtype=float)
            outside = ~binary & ((mean <= np.nan_to_num(lo, nan=-np.inf))
                                 | (mean >= np.nan_to_num(hi, nan=np.inf)))
            if outside.any():
                raise DataError(f"{what}: the mean must lie inside (min, max); it does not "
                                f"at {format_rows(rows_of[outside])}")
        corr_df = None
        if corr is not None:
            if has_trial and df["trial"].nunique() > 1:
                raise DataError("a correlation matrix can only accompany a one-population "
                                "summary (no 'trial' column)")
            corr_df = _corr_frame(corr, list(df["covariate"]))
        if n is not None:
            check_count("n", n, low=1, error=DataError)
        return cls(frame=df, corr=corr_df, kinds=kinds, n=None if n is None else int(n))

    # ------------------------------------------------------------------ access
    @property
    def covariates(self) -> list[str]:
        """Covariate names, in order of first appearance."""
        return list(dict.fromkeys(self.frame["covariate"]))

    @property
    def trials(self) -> list[str]:
        """Population (trial) labels; empty for a one-population summary."""
        if "trial" not in self.frame.columns:
            return []
        return list(dict.fromkeys(self.frame["trial"]))

    def rows(self, trial: str | None = None) -> pd.DataFrame:
        """The summary rows of one population, indexed by covariate.

        Parameters
        ----------
        trial : str, optional
            The population (trial) label; needed when the summary describes several.

        Returns
        -------
        pandas.DataFrame
            Index ``covariate``; columns ``mean``, ``sd`` (and ``trial``, ``n``,
            ``min``, ``max`` when present).

        Raises
        ------
        DataError
            ``trial`` given for a summary without a ``trial`` column or not in it, or
            not given for a summary of several trials.
        """
        df = self.frame
        if trial is not None:
            if "trial" not in df.columns:
                raise DataError("this covariate summary has no 'trial' column")
            df = df[df["trial"] == trial]
            if len(df) == 0:
                raise DataError(f"the covariate summaries have no rows for trial {trial!r}")
        elif "trial" in df.columns and df["trial"].nunique() > 1:
            raise DataError(f"this covariate summary describes several trials "
                            f"{self.trials}; say which one with trial=")
        return df.set_index("covariate")

    def sample(
        self,
        n: int = 50_000,
        *,
        trial: str | None = None,
        method: CopulaMethod = "sobol",
        seed: int | None = None,
    ) -> pd.DataFrame:
        """Individual covariate rows of this population from a Gaussian copula.

        See :func:`gaussian_copula_sample`; ``corr`` defaults to independence.

        Parameters
        ----------
        n : int
            Number of rows to generate (>= 2).
        trial : str, optional
            The population to sample (see :meth:`rows`).
        method : {"sobol", "scrambled_sobol", "random"}
            Uniform points of the copula (see :func:`gaussian_copula_sample`).
        seed : int, optional
            Seed for the scrambled / random methods.

        Returns
        -------
        pandas.DataFrame
            ``n`` rows, one column per covariate (binary ones coded 0.0/1.0).

        Raises
        ------
        DataError
            An unknown population, an ``n`` below 2, or an unknown ``method``.
        """
        rows = self.rows(trial)
        return gaussian_copula_sample(rows.reset_index(), corr=self.corr, n=n,
                                      method=method, seed=seed, kinds=self.kinds)


# -------------------------------------------------------------------- copula
def _uniforms(n: int, d: int, method: CopulaMethod, seed: int | None) -> np.ndarray:
    if method in ("sobol", "scrambled_sobol"):
        scramble = method == "scrambled_sobol"
        sob = qmc.Sobol(d, scramble=scramble, seed=seed)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*balance properties.*")
            u = sob.random(n + 1)
        # the unscrambled sequence starts at the origin; skip it (as randtoolbox does)
        return u[1:] if not scramble else u[:n]
    if method == "random":
        return np.random.default_rng(seed).random((n, d))
    raise DataError(f"method must be 'sobol', 'scrambled_sobol' or 'random', got {method!r}")


def gaussian_copula_sample(
    summary: pd.DataFrame,
    *,
    corr: pd.DataFrame | np.ndarray | None = None,
    n: int = 50_000,
    method: CopulaMethod = "sobol",
    seed: int | None = None,
    kinds: Mapping[str, CovariateKind] | None = None,
) -> pd.DataFrame:
    r"""Generate covariate rows from summary statistics with a Gaussian copula.

    With :math:`L` the lower Cholesky factor of the latent correlation matrix
    :math:`P` and :math:`u_l \in (0,1)^d` quasi-random (or random) points,

    .. math::

        u^*_l = \Phi\{L\,\Phi^{-1}(u_l)\}, \qquad
        x_{lc} = F_c^{-1}(u^*_{lc}),

    where :math:`F_c` is :math:`N(\mu_c, \sigma_c^2)` for a continuous covariate with the
    reported mean and SD, or, when ``[min, max]`` is given, the normal truncated to it
    whose own mean and SD are the reported ones
    (:func:`bayes_hte.data.marginals.truncated_normal_parameters` gives the parent
    :math:`\mu, \sigma`; :math:`x = \mu + \sigma\Phi^{-1}\{F(a) + u^*(F(b)-F(a))\}`),
    and Bernoulli(:math:`p_c`)
    for a binary one (:math:`x = 1\{u^* > 1 - p_c\}`). Correlations act on the latent
    normal scale and are not adjusted for discrete marginals (as in the CIMAgD
    reference implementation's ``XCopula``).

    Parameters
    ----------
    summary : pandas.DataFrame
        ``covariate, mean, sd`` (+ optional ``min``, ``max``) for one population.
    corr : DataFrame or array, optional
        Latent correlation matrix; default independence.
    n : int
        Number of rows to generate (CIMAgD's SGLT2 example uses 50,000).
    method : {"sobol", "scrambled_sobol", "random"}
        ``"sobol"``: unscrambled Sobol points without the origin, deterministic (the
        reference implementation's choice); ``"scrambled_sobol"`` and ``"random"``
        use ``seed``, e.g. to measure the Monte Carlo error of the sample.
    seed : int, optional
        Seed for the scrambled / random methods.
    kinds : mapping, optional
        ``covariate -> "binary" | "continuous"``; default: binary when ``sd`` is empty.

    Returns
    -------
    pandas.DataFrame
        ``n`` rows, one column per covariate.

    Raises
    ------
    DataError
        ``n`` below 2, a summary :meth:`CovariateSummary.from_frame` refuses, or a
        range no truncated normal with the reported mean and SD fits.

    Examples
    --------
    >>> s = pd.DataFrame({"covariate": ["age", "male"], "mean": [60.0, 0.5],
    ...                   "sd": [10.0, np.nan]})
    >>> x = gaussian_copula_sample(s, corr=[[1, 0.3], [0.3, 1]], n=1000)
    >>> x.shape
    (1000, 2)
    """
    check_count("n", n, low=2, error=DataError)
    cs = summary if isinstance(summary, CovariateSummary) else CovariateSummary.from_frame(
        summary, corr=corr)
    df = cs.rows().reset_index()
    names = list(df["covariate"])
    kinds = dict(kinds or cs.kinds)
    R = cs.corr.loc[names, names].to_numpy() if cs.corr is not None else np.eye(len(names))
    u = _uniforms(int(n), len(names), method, seed)
    u = np.clip(u, 1e-12, 1 - 1e-12)
    z = stats.norm.ppf(u) @ np.linalg.cholesky(R).T
    ustar = stats.norm.cdf(z)
    out = {}
    for c, name in enumerate(names):
        row = df.iloc[c]
        if kinds.get(name) == "binary":
            out[name] = (ustar[:, c] > 1.0 - row["mean"]).astype(float)
            continue
        mu, sd = float(row["mean"]), float(row["sd"])
        lo = float(row["min"]) if "min" in df.columns and pd.notna(row["min"]) else -np.inf
        hi = float(row["max"]) if "max" in df.columns and pd.notna(row["max"]) else np.inf
        if np.isinf(lo) and np.isinf(hi):
            out[name] = mu + sd * stats.norm.ppf(ustar[:, c])
        else:  # the parent normal whose truncation has the reported mean and SD
            mu, sd = truncated_normal_parameters(mu, sd, lo, hi, where=f"covariate {name!r}")
            fa, fb = stats.norm.cdf((lo - mu) / sd), stats.norm.cdf((hi - mu) / sd)
            out[name] = mu + sd * stats.norm.ppf(fa + ustar[:, c] * (fb - fa))
    return pd.DataFrame(out)


# ----------------------------------------------------------------- effects table
def validate_effects(effects: pd.DataFrame, covariates: CovariateSummary) -> pd.DataFrame:
    """Validate a table of reported treatment effects against covariate summaries.

    Parameters
    ----------
    effects : pandas.DataFrame
        Columns ``trial, subgroup, stratum, estimate, se, n`` and optionally ``prop``
        (see the module docstring). Copied, never modified.
    covariates : CovariateSummary
        The trials' covariate summaries (with a ``trial`` column): they say which
        covariates exist and whether each is binary or continuous.

    Returns
    -------
    pandas.DataFrame
        A copy with normalised ``trial``, ``subgroup`` and ``stratum`` labels, ``prop``
        filled in (``n / n_overall`` where it was missing; 1 for overall rows), a
        ``prop_source`` column (``"reported"``, ``"n"`` or ``"overall"``) and a
        ``_stratum`` column holding the parsed :class:`Stratum`.

    Raises
    ------
    DataError
        Missing columns or key values, a non-finite estimate, an SE <= 0, an ``n`` <= 0,
        a proportion outside (0, 1] or a subgroup ``n`` larger than the overall ``n``,
        a row whose proportion can be neither read nor computed, a subgroup that is
        not a covariate of the covariate summaries, a stratum that is not a level of
        the covariate, a repeated (trial, subgroup, stratum), a trial with effects but
        no covariate summaries or the reverse.
    """
    what = "effects"
    if not isinstance(effects, pd.DataFrame):
        raise DataError(f"effects must be a pandas DataFrame, got {type(effects).__name__}")
    _require_columns(effects, EFFECT_COLUMNS, what)
    if len(effects) == 0:
        raise DataError("the effects table has no rows")
    df = effects.copy().reset_index(drop=True)
    rows_of = effects.index  # the user's row labels, for the messages
    for col in ("trial", "subgroup"):
        miss = df[col].isna()
        if miss.any():
            raise DataError(f"{what}: column {col!r} is empty at "
                            f"{format_rows(rows_of[miss.to_numpy()])}")
        df[col] = df[col].map(lambda v: str(v).strip())
    overall = df["subgroup"].str.lower() == OVERALL
    df.loc[overall, "subgroup"] = OVERALL
    est = _finite(df, "estimate", what, rows_of)
    se = _numeric(df, "se", what)
    n = _numeric(df, "n", what)
    bad = ~np.isfinite(se) | (se <= 0)
    if bad.any():
        raise DataError(f"{what}: 'se' must be finite and > 0 but is {se[bad].tolist()[:5]} at "
                        f"{format_rows(rows_of[bad])}; fix or remove these effects")
    bad = ~np.isnan(n) & ~(n > 0)
    if bad.any():
        raise DataError(f"{what}: 'n' must be > 0 (or empty) at {format_rows(rows_of[bad])}")
    df["estimate"], df["se"], df["n"] = est, se, n

    eff_trials = list(dict.fromkeys(df["trial"]))
    cov_trials = covariates.trials
    if not cov_trials:
        raise DataError("the covariate summaries need a 'trial' column matching the effects")
    missing = [t for t in eff_trials if t not in cov_trials]
    if missing:
        raise DataError(f"trials {missing} have effects but no covariate summaries; add their "
                        "rows to the covariates table")
    extra = [t for t in cov_trials if t not in eff_trials]
    if extra:
        raise DataError(f"trials {extra} have covariate summaries but no reported effects; "
                        "remove them from the covariates table or add their effects")

    strata: list[Stratum] = []
    labels: list[str] = []
    for i, row in df.iterrows():
        where = f"effects row {rows_of[i]} (trial {row['trial']!r}, subgroup {row['subgroup']!r})"
        if row["subgroup"] == OVERALL:
            s = row["stratum"]
            if not (_missing(s) or _label(s).lower() in _OVERALL_STRATA):
                raise DataError(f"{where}: an overall row must leave 'stratum' empty, got "
                                f"{_label(s)!r}")
            strata.append(Stratum("all", OVERALL))
            labels.append("")
            continue
        cov = row["subgroup"]
        if cov not in covariates.kinds:
            raise DataError(
                f"{where}: subgroup {cov!r} is not a covariate of the covariate summaries "
                f"({covariates.covariates}); subgroup must be 'overall' or a covariate "
                "name, and that covariate needs summary rows"
            )
        st = parse_stratum(row["stratum"], kind=covariates.kinds[cov], where=where)
        strata.append(st)
        labels.append(st.label)
    df["stratum"] = labels
    df["_stratum"] = strata
    key = df["trial"] + "\x00" + df["subgroup"] + "\x00" + df["stratum"]
    dup = key.duplicated(keep=False)
    if dup.any():
        first = tuple(df.loc[dup, ["trial", "subgroup", "stratum"]].iloc[0])
        raise DataError(f"{what}: (trial, subgroup, stratum) = {first} repeats at "
                        f"{format_rows(rows_of[dup.to_numpy()])}; give each reported effect once")

    # proportions ------------------------------------------------------------
    prop = _numeric(df, "prop", what) if "prop" in df.columns else np.full(len(df), np.nan)
    ov = (df["subgroup"] == OVERALL).to_numpy()
    bad = ~np.isnan(prop) & ((prop <= 0) | (prop > 1))
    if bad.any():
        raise DataError(f"{what}: 'prop' must lie in (0, 1] (the share of the trial in the "
                        f"stratum) but is {prop[bad].tolist()[:5]} at {format_rows(rows_of[bad])}")
    bad = ov & ~np.isnan(prop) & (prop != 1)
    if bad.any():
        raise DataError(f"{what}: an overall row covers the whole trial, so its 'prop' must be "
                        f"1 or empty; got {prop[bad].tolist()} at {format_rows(rows_of[bad])}")
    source = np.where(np.isnan(prop), "", "reported").astype(object)
    n_overall = {}
    for t in eff_trials:
        sel = (df["trial"] == t).to_numpy() & ov
        vals = n[sel]
        vals = vals[~np.isnan(vals)]
        if len(vals):
            n_overall[t] = float(vals.max())
    for i in range(len(df)):
        if ov[i]:
            prop[i], source[i] = 1.0, "overall"
            continue
        if not np.isnan(prop[i]):
            continue
        t = df.at[i, "trial"]
        if np.isnan(n[i]) or t not in n_overall:
            raise DataError(
                f"{what} row {rows_of[i]} (trial {t!r}, subgroup {df.at[i, 'subgroup']!r}, stratum "
                f"{df.at[i, 'stratum']!r}): the share of the trial in this stratum is unknown; "
                "give 'prop', or 'n' for this row and for the trial's overall row"
            )
        p = n[i] / n_overall[t]
        if p > 1:
            raise DataError(
                f"{what} row {rows_of[i]} (trial {t!r}, subgroup {df.at[i, 'subgroup']!r}): n = "
                f"{n[i]:g} exceeds the overall n = {n_overall[t]:g}, so its proportion "
                f"{p:.3g} lies outside [0, 1]; check the counts"
            )
        prop[i], source[i] = p, "n"
    df["prop"] = prop
    df["prop_source"] = source
    _check_stratum_shares(df, what)
    return df


#: Slack on the sum of reported shares of disjoint strata (rounded percentages).
SHARE_SLACK = 0.02


def _disjoint(strata: Sequence[Stratum]) -> bool:
    """Whether the strata cannot overlap: distinct levels, or intervals that follow each
    other (a shared end point has no patients of a continuous covariate)."""
    if all(s.kind == "level" for s in strata):
        return True
    if not all(s.kind == "interval" for s in strata):
        return False
    ordered = sorted(strata, key=lambda s: s.lo)
    return all(a.hi <= b.lo for a, b in zip(ordered, ordered[1:], strict=False))


def _check_stratum_shares(df: pd.DataFrame, what: str) -> None:
    """Disjoint strata of one subgroup in one trial cannot hold more than the trial (a
    DataError); both levels of a binary covariate holding clearly less than it is
    possible (patients with the covariate missing) but worth a DataWarning."""
    sub = df[df["subgroup"] != OVERALL]
    for (trial, cov), g in sub.groupby(["trial", "subgroup"], sort=False):
        strata = list(g["_stratum"])
        total = float(g["prop"].sum())
        if _disjoint(strata) and total > 1 + SHARE_SLACK:
            raise DataError(f"{what}: the strata {list(g['stratum'])} of subgroup {cov!r} in "
                            f"trial {trial!r} do not overlap, but their shares of the trial "
                            f"sum to {total:.3g} (> 1): check their 'n' (or 'prop') against "
                            "the trial's overall n")
        levels = {s.level for s in strata if s.kind == "level"}
        if levels == {0.0, 1.0} and total < 1 - SHARE_SLACK:
            warnings.warn(f"{what}: both levels of subgroup {cov!r} in trial {trial!r} hold "
                          f"{total:.3g} of the trial, not all of it (patients with {cov!r} "
                          "missing?); each stratum's effect is weighted by its own share",
                          DataWarning, stacklevel=4)

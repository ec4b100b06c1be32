"""Performance measures of a simulation study, with their Monte Carlo standard errors.

:func:`performance` turns the long table of a study's estimates (one row per scenario,
replicate, method and estimand) into one row per (scenario factors, method, estimand,
measure): the measure's value, its Monte Carlo standard error (MCSE), the number of
replicates it used and the number of replicates in which the method raised.

The measures and their MCSEs are those of Morris, White & Crowther (2019), "Using
simulation studies to evaluate statistical methods", *Statistics in Medicine* 38:2074–2102,
Table 6, as implemented by White (2010), "simsum: Analyses of simulation studies including
Monte Carlo error", *Stata Journal* 10:369–385, and by the R package rsimsum (Gasparini,
``simsum`` / ``.performance``), whose names they keep. Pure numpy / pandas.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from bayes_hte.comparators.results import check_ci_prob
from bayes_hte.data.numbers import real_values
from bayes_hte.errors import DataError, DataWarning, format_rows
from bayes_hte.options import PERFORMANCE_MEASURES, check_choice
from bayes_hte.studies.design import COLUMNS

#: Every performance measure, in the order rsimsum reports them.
MEASURES: tuple[str, ...] = PERFORMANCE_MEASURES

#: Columns :func:`performance` reads from the estimates table.
REQUIRED_COLUMNS: tuple[str, ...] = (
    "method", "estimand", "truth", "estimate", "se", "ci_low", "ci_high", "error",
)
#: Columns of the estimates table that hold numbers (on the estimand's scale).
NUMBER_COLUMNS: tuple[str, ...] = ("truth", "estimate", "se", "ci_low", "ci_high")
#: Columns of the table :func:`performance` returns, after the scenario factors.
OUTPUT_COLUMNS: tuple[str, ...] = (
    "method", "estimand", "measure", "value", "mcse", "n_ok", "n_failed", "n_missing",
)

_NAN = float("nan")


def _sd(x: np.ndarray) -> float:
    """Sample standard deviation (denominator n - 1); NaN below two values."""
    return float(np.std(x, ddof=1)) if x.size >= 2 else _NAN


def _ratio(num: float, den: float) -> float:
    """``num / den``, NaN when ``den`` is 0 or NaN (no division warning)."""
    return num / den if np.isfinite(den) and den != 0 else _NAN


def _proportion(hits: np.ndarray) -> tuple[float, float, int]:
    """A proportion, its binomial MCSE sqrt(p(1-p)/n) and n."""
    n = hits.size
    if n == 0:
        return _NAN, _NAN, 0
    p = float(np.mean(hits))
    return p, float(np.sqrt(p * (1.0 - p) / n)), n


def _mean_mcse(x: np.ndarray) -> tuple[float, float, int]:
    """A mean, its MCSE SD / sqrt(n) (NaN below two values) and n."""
    n = x.size
    return (float(np.mean(x)) if n else _NAN, _sd(x) / np.sqrt(n) if n >= 2 else _NAN, n)


def _median(x: np.ndarray) -> tuple[float, float, int]:
    """A median, with no MCSE (NaN, as rsimsum), and n."""
    return (float(np.median(x)) if x.size else _NAN, _NAN, x.size)


def _wald(est: np.ndarray, se: np.ndarray, lo: np.ndarray, hi: np.ndarray,
          z: float) -> tuple[np.ndarray, np.ndarray]:
    """The intervals, with est -/+ z se where a replicate gives no limit but an SE."""
    fill = np.isnan(lo) & np.isnan(hi) & np.isfinite(se)
    return np.where(fill, est - z * se, lo), np.where(fill, est + z * se, hi)


def _group_measures(est: np.ndarray, truth: np.ndarray, se: np.ndarray,
                    lo: np.ndarray, hi: np.ndarray, wanted: Sequence[str], *,
                    z: float, varying: bool = False) -> dict[str, tuple[float, float, int]]:
    """Every measure of one (scenario, method, estimand) cell: name -> (value, mcse, n).

    The inputs are the successful replicates with a finite estimate. ``varying``: the
    truth varies between the cell's replicates, so the spread measures are those of the
    errors (``performance``'s notes). ``z``: the normal quantile of the Wald intervals
    that stand in for missing ones.
    """
    n = est.size
    out: dict[str, tuple[float, float, int]] = {}
    mean_est = float(np.mean(est)) if n else _NAN
    # measures against the truth use the replicates whose truth is known
    has_truth = np.isfinite(truth)
    dev = est[has_truth] - truth[has_truth]
    n_t = dev.size
    if "thetamean" in wanted:
        out["thetamean"] = _mean_mcse(est)
    if "thetamedian" in wanted:
        out["thetamedian"] = _median(est)
    se2 = se[np.isfinite(se)] ** 2
    if "se2mean" in wanted:
        out["se2mean"] = _mean_mcse(se2)
    if "se2median" in wanted:
        out["se2median"] = _median(se2)
    if "rbias" in wanted:  # relative to a true value other than 0
        rel = has_truth & (truth != 0)
        out["rbias"] = _mean_mcse((est[rel] - truth[rel]) / truth[rel])
    # the spread measures: of the estimates, or of the errors when the truth varies
    # (over the replicates with a finite truth)
    spread, use = (dev, has_truth) if varying else (est, np.ones(n, dtype=bool))
    if "bias" in wanted:
        value = float(np.mean(dev)) if n_t else _NAN
        out["bias"] = (value, _sd(dev) / np.sqrt(n_t) if n_t >= 2 else _NAN, n_t)
    if "empse" in wanted:
        empse, n_s = _sd(spread), spread.size
        out["empse"] = (empse, empse / np.sqrt(2.0 * (n_s - 1)) if n_s >= 2 else _NAN, n_s)
    if "mse" in wanted:
        sq = dev**2
        mse = float(np.mean(sq)) if n_t else _NAN
        mcse = (float(np.sqrt(np.sum((sq - mse) ** 2) / (n_t * (n_t - 1)))) if n_t >= 2
                else _NAN)
        out["mse"] = (mse, mcse, n_t)
    if "modelse" in wanted or "relerror" in wanted:
        has_se = np.isfinite(se) & use
        v = se[has_se] ** 2  # model-based variances
        m = v.size
        modelse = float(np.sqrt(np.mean(v))) if m else _NAN
        var_v = float(np.var(v, ddof=1)) if m >= 2 else _NAN
        if "modelse" in wanted:
            out["modelse"] = (modelse, float(np.sqrt(_ratio(var_v, 4.0 * m * modelse**2))), m)
        if "relerror" in wanted:
            empse_se = _sd(spread[has_se[use]])  # EmpSE over the same replicates as ModSE
            ratio = _ratio(modelse, empse_se)
            value = 100.0 * (ratio - 1.0)
            mcse = 100.0 * ratio * float(np.sqrt(
                _ratio(var_v, 4.0 * m * modelse**4) + 1.0 / (2.0 * (m - 1))
            )) if m >= 2 else _NAN
            out["relerror"] = (value, mcse, m)
    lo, hi = _wald(est, se, lo, hi, z)
    has_ci = ~np.isnan(lo) & ~np.isnan(hi)  # an infinite limit (one-sided interval) counts
    lo_c, hi_c = lo[has_ci], hi[has_ci]
    if "cover" in wanted:
        known = np.isfinite(truth[has_ci])
        theta = truth[has_ci][known]
        out["cover"] = _proportion((lo_c[known] <= theta) & (theta <= hi_c[known]))
    if "becover" in wanted:
        if varying:  # each interval against its own truth shifted by the bias
            ok = has_ci & has_truth
            centre = truth[ok] + float(np.mean(dev))
            out["becover"] = _proportion((lo[ok] <= centre) & (centre <= hi[ok]))
        else:
            out["becover"] = _proportion((lo_c <= mean_est) & (mean_est <= hi_c))
    if "power" in wanted:
        out["power"] = _proportion((lo_c > 0.0) | (hi_c < 0.0))
    return out


def _relprec(est: pd.Series, ref: pd.Series | None, *,
             is_ref: bool = False) -> tuple[float, float, int]:
    """Relative % increase in precision of ``est`` against ``ref`` (both indexed by
    replicate key), over the replicates where both are finite (Morris et al. 2019,
    Table 6); ``is_ref``: the reference itself, 0 with MCSE 0 exactly."""
    if ref is None:
        return _NAN, _NAN, 0
    both = pd.concat([ref.rename("ref"), est.rename("est")], axis=1, join="inner").dropna()
    n = len(both)
    if n < 2:
        return _NAN, _NAN, n
    if is_ref:
        return 0.0, 0.0, n
    ref_sd, est_sd = _sd(both["ref"].to_numpy()), _sd(both["est"].to_numpy())
    ratio2 = _ratio(ref_sd, est_sd) ** 2
    if not (ref_sd > 0 and est_sd > 0):  # a constant method: no correlation, no MCSE
        return 100.0 * (ratio2 - 1.0), _NAN, n
    rho = min(1.0, float(np.corrcoef(both["ref"], both["est"])[0, 1]))
    return (100.0 * (ratio2 - 1.0), 200.0 * ratio2 * float(np.sqrt((1 - rho**2) / (n - 1))),
            n)


def _keyed(rows: pd.DataFrame, key: list[str], *, errors: bool = False) -> pd.Series:
    """The finite estimates of ``rows`` (``errors``: estimate - truth) indexed by their
    (scenario, replicate) key."""
    rows = rows.set_index(key) if key else rows
    est = rows["estimate"].astype(float)
    if errors:
        est = est - rows["truth"].astype(float)
    return est[np.isfinite(est.to_numpy())]


def _truth_varies(cell: pd.DataFrame) -> bool:
    """Whether the truth of an estimand varies between replicates of one scenario (a
    truth that reads the data), ``cell`` being its successful rows."""
    truth = cell["truth"].astype(float)
    if "scenario" in cell.columns:
        return bool((truth.groupby(cell["scenario"]).nunique(dropna=True) > 1).any())
    return truth.nunique(dropna=True) > 1


#: Measures about the estimates' spread or mean, not their distance from the truth:
#: pooling scenarios whose true values differ mixes the truths into them.
_TRUTH_FREE = ("thetamean", "thetamedian", "se2mean", "se2median", "empse", "relprec",
               "modelse", "relerror", "becover")


def _warn_pooled_truths(ok: pd.DataFrame, factors: list[str], measures: Sequence[str]) -> None:
    """DataWarning when ``factors`` pool scenarios with different true values (each
    constant within its scenario) into cells whose spread-based measures then mix them."""
    spread = [m for m in measures if m in _TRUTH_FREE]
    if not spread or "scenario" not in ok.columns or "scenario" in factors or ok.empty:
        return
    per = ok.groupby([*factors, "estimand", "scenario"], dropna=False)["truth"]
    if (per.nunique(dropna=True) > 1).any():  # a truth that reads the data: by design
        return
    first = per.first().dropna()
    keys = [*factors, "estimand"]
    mixed = first.groupby(level=keys, dropna=False).nunique() > 1
    if mixed.any():
        cells = [dict(zip(keys, k if isinstance(k, tuple) else (k,), strict=True))
                 for k in mixed.index[mixed][:3]]
        warnings.warn(f"factors={factors} pool scenarios whose true values differ (e.g. "
                      f"{cells}): {spread} then mix the truths (bias, mse and cover still "
                      "compare each estimate with its own truth)", DataWarning, stacklevel=3)


def _check_numbers(estimates: pd.DataFrame) -> None:
    """DataError naming the rows where a number column holds text or bools (nothing is
    converted: ``"0.7"`` is refused) or ``se`` is negative."""
    for col in NUMBER_COLUMNS:
        values, bad = real_values(estimates[col])
        if bad.any():
            first = estimates[col][bad].iloc[0]
            raise DataError(f"column {col!r} must hold real numbers, but has {first!r} in "
                            f"{format_rows(estimates.index[bad])}; nothing is converted")
        negative = values < 0
        if col == "se" and negative.any():
            raise DataError(f"column 'se' is negative in "
                            f"{format_rows(estimates.index[negative])}; a standard error "
                            "is >= 0")


def _ordered_unique(values: pd.Series) -> list:
    return list(pd.unique(values))


def performance(
    estimates: pd.DataFrame,
    *,
    factors: Sequence[str] | None = None,
    measures: Sequence[str] = MEASURES,
    ref: str | None = None,
    ci_prob: float = 0.95,
) -> pd.DataFrame:
    r"""Performance measures of a simulation study with their Monte Carlo standard errors.

    For each cell (scenario factors, method, estimand) the measures are computed over the
    replicates whose ``error`` is ``""`` and whose ``estimate`` is finite — the
    :math:`n` successful replicates :math:`i = 1..n` with estimate :math:`\hat\theta_i`,
    model-based standard error :math:`s_i`, interval :math:`[l_i, u_i]` and true value
    :math:`\theta_i` (the ``truth`` column: constant within a scenario, or the
    replicate's own value when the study's truth reads the data). With
    :math:`\bar\theta = \frac1n\sum_i\hat\theta_i`, :math:`\overline{s^2} = \frac1n\sum_i
    s_i^2` and :math:`V_{s^2} = \frac1{n-1}\sum_i (s_i^2 - \overline{s^2})^2`:

    * ``thetamean`` :math:`= \bar\theta`, the mean estimate, MCSE EmpSE / √n (rsimsum's
      name; the measure of a metric that has no true value, e.g. a c-for-benefit);
    * ``thetamedian``, the median estimate (no MCSE: NaN, as in rsimsum);
    * ``se2mean`` :math:`= \overline{s^2}`, the mean model-based variance, MCSE
      :math:`\sqrt{V_{s^2}/n}` (rsimsum reports none), and ``se2median``, their median
      (no MCSE), both over the replicates with a finite SE;
    * ``bias`` :math:`= \frac1n\sum_i(\hat\theta_i - \theta_i)`, MCSE
      :math:`\sqrt{\frac{1}{n(n-1)}\sum_i(\hat\theta_i-\bar\theta)^2}` (= EmpSE / √n);
    * ``rbias`` (relative bias, a fraction as in rsimsum, not percent) :math:`=
      \frac1n\sum_i(\hat\theta_i - \theta_i)/\theta_i`, MCSE the SD of those ratios
      over √n, over the replicates whose true value is finite and not 0 (NaN, ``n_ok``
      0, for an estimand whose true value is 0);
    * ``empse`` :math:`= \sqrt{\frac1{n-1}\sum_i(\hat\theta_i-\bar\theta)^2}`, MCSE
      :math:`\mathrm{EmpSE}/\sqrt{2(n-1)}`;
    * ``mse`` :math:`= \frac1n\sum_i(\hat\theta_i-\theta_i)^2`, MCSE
      :math:`\sqrt{\sum_i[(\hat\theta_i-\theta_i)^2-\mathrm{MSE}]^2/(n(n-1))}`;
    * ``relprec`` (relative % increase in precision against the reference method
      ``ref``) :math:`= 100\{(\mathrm{EmpSE}_{ref}/\mathrm{EmpSE})^2 - 1\}`, MCSE
      :math:`200\,(\mathrm{EmpSE}_{ref}/\mathrm{EmpSE})^2\sqrt{(1-\rho^2)/(n-1)}` with
      :math:`\rho` the correlation of the two methods' estimates; both EmpSEs and
      :math:`\rho` over the :math:`n` replicates where both have a finite estimate (0,
      MCSE 0, for the reference itself);
    * ``modelse`` :math:`= \sqrt{\overline{s^2}}`, MCSE
      :math:`\sqrt{V_{s^2}/(4n\,\mathrm{ModSE}^2)}`;
    * ``relerror`` :math:`= 100(\mathrm{ModSE}/\mathrm{EmpSE}-1)` (percent), MCSE
      :math:`100\,\frac{\mathrm{ModSE}}{\mathrm{EmpSE}}
      \sqrt{\frac{V_{s^2}}{4n\,\mathrm{ModSE}^4}+\frac{1}{2(n-1)}}`;
    * ``cover`` :math:`= \frac1n\sum_i 1(l_i\le\theta_i\le u_i)`, MCSE
      :math:`\sqrt{\mathrm{Cover}(1-\mathrm{Cover})/n}`;
    * ``becover`` (bias-eliminated coverage) :math:`= \frac1n\sum_i
      1(l_i\le\bar\theta\le u_i)`, MCSE :math:`\sqrt{\mathrm{BECover}(1-\mathrm{BECover})/n}`;
    * ``power`` :math:`= \frac1n\sum_i 1(l_i>0 \text{ or } u_i<0)`, MCSE
      :math:`\sqrt{\mathrm{Power}(1-\mathrm{Power})/n}`.

    These are the formulas of Morris, White & Crowther (2019, Stat Med 38:2074, Table 6)
    and of White (2010, Stata Journal 10:369, ``simsum``), and exactly those of R
    ``rsimsum`` (its internal ``.performance``; the tests compare with rsimsum 0.13.0 to
    1e-9), including the delta-method MCSEs of ``modelse`` and ``relerror``, in which
    :math:`V_{s^2}` is the sample variance (n - 1 denominator) of the model-based
    variances; ``relerror``'s MCSE is the one rsimsum documents in its introduction
    vignette. Where this function differs from rsimsum:

    * ``power`` is the proportion of intervals that exclude 0 (``ci_low > 0`` or
      ``ci_high < 0``), read from the stored intervals; rsimsum (and Table 6's "rejection
      %") use the Wald test :math:`|\hat\theta_i| \ge z\,s_i` at its ``level``
      (:math:`z_{0.975}` by default), also when ``ci.limits`` are given. The two agree
      for Wald intervals at that level except on the boundary (an interval ending
      exactly at 0 rejects in rsimsum, not here). ``cover`` and ``becover`` use the
      stored intervals as rsimsum does with ``ci.limits``.
    * A replicate whose method gave an SE but no interval (both limits NaN) counts in
      ``cover``, ``becover`` and ``power`` with the Wald interval
      :math:`\hat\theta_i \pm z\,s_i`, :math:`z` the normal quantile of ``ci_prob``,
      as rsimsum does without ``ci.limits``.
    * Missing values are handled per measure: ``modelse`` and ``relerror`` use the
      replicates that also have a finite ``se`` (``relerror``'s EmpSE is then computed on
      those same replicates), ``cover``, ``becover`` and ``power`` the replicates with
      both interval limits given (an infinite limit, as of a one-sided interval,
      counts); ``bias``, ``mse`` and ``cover`` the replicates with a finite ``truth``
      (NaN, ``n_ok`` 0, for an estimand without a true value);
      ``becover``'s :math:`\bar\theta` is the mean over all :math:`n` estimates.
      rsimsum counts ``nsim`` once, over rows with both an estimate and an SE.
      ``n_ok`` gives the number each measure used.
    * A truth that varies between the replicates of a scenario (one that reads the data,
      e.g. the PAPE of each replicate's own rule) is not Table 6's fixed
      :math:`\theta`: the spread of the estimates would then include the truth's own.
      For such an estimand the spread measures are those of the errors
      :math:`e_i = \hat\theta_i - \theta_i`: ``empse`` :math:`= \mathrm{SD}(e_i)`
      (and so ``relerror`` and ``relprec``, whose :math:`\rho` is the correlation of
      the two methods' errors), ``becover`` counts :math:`l_i \le \theta_i + \mathrm{Bias}
      \le u_i`, over the replicates with a finite truth. With a constant truth these are
      Table 6's formulas.
    * A measure that needs two replicates (``empse``, ``relerror`` and the MCSEs of
      ``bias``, ``mse``, ``modelse``) is NaN when fewer are available; every value is NaN
      with none; a ratio whose denominator is 0 (``relerror`` with EmpSE 0, the MCSE of
      ``modelse`` with ModSE 0) is NaN.

    Parameters
    ----------
    estimates : pandas.DataFrame
        One row per (scenario, replicate, method, estimand), as
        ``bayes_hte.studies.run(...).estimates`` gives it: the scenario factor columns,
        ``scenario`` (int), ``replicate`` (int), ``method`` (str), ``estimand`` (str),
        ``truth``, ``estimate``, ``se``, ``ci_low``, ``ci_high`` (float, on the estimand's
        scale), ``error`` (str; ``""`` on success, otherwise the message, in one row per
        failed replicate with ``estimand`` ``""``). A missing ``error`` value (NaN / None)
        counts as success. ``scenario`` and ``replicate`` are needed only for
        ``factors=None`` and for counting failures per replicate.
    factors : sequence of str, optional
        Columns that define a cell together with ``method`` and ``estimand``. Default: the
        columns that are not the estimates' own (``bayes_hte.studies.design.COLUMNS``:
        ``scenario``, ``replicate``, ``method``, ...), which must each be constant within
        a scenario (the scenario factors, whatever the columns' order). Naming a subset
        pools the scenarios that share its values (each replicate keeps its own
        ``truth``).
    measures : sequence of str
        Measures to compute, a subset of ``MEASURES`` = ("thetamean", "thetamedian",
        "se2mean", "se2median", "bias", "rbias", "empse", "mse", "relprec", "modelse",
        "relerror", "cover", "becover", "power"), rsimsum's names in rsimsum's order;
        reported in the order given.
    ref : str, optional
        Reference method of ``relprec`` (default: the first method, as rsimsum).
    ci_prob : float
        Level of the Wald intervals that stand in for missing ones (rsimsum's
        ``level``); the stored intervals are used as they are.

    Returns
    -------
    pandas.DataFrame
        Columns: the ``factors``, ``method``, ``estimand``, ``measure``, ``value`` (the
        estimand's scale for ``thetamean``, ``thetamedian``, ``bias``, ``empse``,
        ``modelse``; its square for ``mse``, ``se2mean`` and ``se2median``; a fraction
        for ``rbias``; percent for ``relprec`` and ``relerror``; a proportion in [0, 1] for
        ``cover``, ``becover``, ``power``), ``mcse`` (same scale), ``n_ok`` (int,
        replicates the measure used) and
        ``n_failed`` (int, replicates of the cell's scenarios in which the method raised,
        or ``generate`` or the truth did) and ``n_missing`` (int, replicates in which the
        method ran but gave no finite estimate of the estimand: NaN, or the estimand
        left out), so that ``n_failed + n_missing`` and the estimates used add up to the
        replicates.
        One row per cell and measure: cells in order of first scenario, then methods and
        estimands in order of first appearance, then ``measures``. A method that failed in
        every replicate of a scenario still gets rows (NaN values, ``n_ok`` 0) for the
        estimands it returned elsewhere (all estimands of the table if none; estimand
        ``""`` when no replicate of any method gave one), so its ``n_failed`` shows.

    Raises
    ------
    DataError
        A required column or a named factor is missing, ``factors`` is None and there is
        no ``scenario`` column, or a column taken as a factor varies within a scenario,
        ``factors`` names a column of the estimates themselves (``method``, ``estimate``,
        ...), a (scenario, replicate, method, estimand) key occurs twice, a number column
        (``truth``, ``estimate``, ``se``, ``ci_low``, ``ci_high``) holds text or bools, or
        ``se`` is negative.
    ValueError
        A name in ``measures`` is not a known measure, ``ref`` is not a method of the
        table, or ``ci_prob`` is not a number in (0, 1).
    """
    measures = (measures,) if isinstance(measures, str) else tuple(measures)
    for m in measures:
        check_choice("measures", m, MEASURES)
    check_ci_prob(ci_prob, error=ValueError)
    z = float(stats.norm.ppf(0.5 + ci_prob / 2.0))
    missing = [c for c in REQUIRED_COLUMNS if c not in estimates.columns]
    if missing:
        raise DataError(f"estimates lack the column(s) {missing}; expected the table of "
                        "bayes_hte.studies.run(...).estimates")
    if factors is None:
        if "scenario" not in estimates.columns:
            raise DataError("estimates have no 'scenario' column: name the scenario "
                            "factor columns with factors=[...]")
        factors = [c for c in estimates.columns if c not in COLUMNS]
        per = estimates.groupby("scenario", sort=False)[factors].nunique(dropna=False)
        varies = [f for f in factors if (per[f] > 1).any()]
        if varies:
            raise DataError(f"column(s) {varies} of estimates vary within a scenario, so they "
                            "are not scenario factors: drop them, or name the factors "
                            "with factors=[...]")
    if isinstance(factors, str):
        raise ValueError(f"factors must be a list of column names, got {factors!r}")
    factors = list(factors)
    absent = [f for f in factors if f not in estimates.columns]
    if absent:
        raise DataError(f"factor column(s) {absent} not in estimates")
    reserved = [f for f in factors if f in COLUMNS and f != "scenario"]
    if reserved:
        raise DataError(f"factors {reserved} are columns of the estimates themselves, not "
                        "scenario factors (method and estimand always define cells)")
    key = [c for c in ("scenario", "replicate") if c in estimates.columns]
    if len(key) == 2:
        dup = estimates.duplicated([*key, "method", "estimand"], keep=False)
        if dup.any():
            raise DataError(f"estimates repeat a (scenario, replicate, method, estimand) "
                            f"key in {format_rows(estimates.index[dup])}: a replicate was "
                            "stored twice")
    _check_numbers(estimates)

    df = estimates.reset_index(drop=True)
    error = df["error"].fillna("").astype(str)
    failed = error != ""
    if "scenario" in df.columns:  # cells in scenario order, whatever order rows came in
        df = df.sort_values("scenario", kind="stable")
    methods_all = _ordered_unique(df["method"])
    ok_rows = df.loc[~failed]
    estimands_all = [e for e in _ordered_unique(ok_rows["estimand"]) if e != ""]
    by_method = {m: [e for e in _ordered_unique(ok_rows.loc[ok_rows["method"] == m,
                                                            "estimand"]) if e != ""]
                 for m in methods_all}
    fail_key = [*factors, *key, "method"] if key else None
    if ref is not None and ref not in methods_all:
        raise ValueError(f"ref={ref!r} is not a method of the table; methods: {methods_all}")
    ref = ref if ref is not None else (methods_all[0] if methods_all else None)
    paired = "relprec" in measures and len(key) == 2

    rows = []
    grouped = df.groupby(factors, sort=False, dropna=False) if factors else [((), df)]
    _warn_pooled_truths(df.loc[~failed], factors, measures)
    for fvals, cell in grouped:
        fvals = fvals if isinstance(fvals, tuple) else (fvals,)
        cell_failed = failed.loc[cell.index]
        for method in methods_all:
            mrows = cell.loc[cell["method"] == method]
            if mrows.empty:
                continue
            mfailed = cell_failed.loc[mrows.index]
            bad = mrows.loc[mfailed]
            n_failed = int(len(bad.drop_duplicates(fail_key)) if fail_key else len(bad))
            good = mrows.loc[~mfailed]
            # replicates the method ran in without an error (each estimand is expected)
            n_ran = int(len(good.drop_duplicates(fail_key)) if fail_key else
                        len(good) // max(1, good["estimand"].nunique()))
            estimands = [e for e in _ordered_unique(good["estimand"]) if e != ""]
            if not estimands and n_failed:  # no estimand known at all: one row of ""
                estimands = by_method[method] or estimands_all or [""]
            for estimand in estimands:
                g = good.loc[good["estimand"] == estimand]
                est = g["estimate"].to_numpy(dtype=float)
                fin = np.isfinite(est)
                varying = _truth_varies(g.loc[fin])
                values = _group_measures(
                    est[fin], g["truth"].to_numpy(dtype=float)[fin],
                    g["se"].to_numpy(dtype=float)[fin], g["ci_low"].to_numpy(dtype=float)[fin],
                    g["ci_high"].to_numpy(dtype=float)[fin], measures, varying=varying, z=z)
                if "relprec" in measures:  # the reference against itself: 0, MCSE 0
                    values["relprec"] = _relprec(
                        _keyed(g, key, errors=varying), None if not paired else _keyed(
                            cell.loc[(cell["method"] == ref) & ~cell_failed
                                     & (cell["estimand"] == estimand)], key,
                            errors=varying), is_ref=method == ref)
                n_missing = n_ran - int(fin.sum())  # ran, but no finite estimate of it
                for measure in measures:
                    value, mcse, n = values[measure]
                    rows.append((*fvals, method, estimand, measure, value, mcse, n, n_failed,
                                 n_missing))
    out = pd.DataFrame(rows, columns=[*factors, *OUTPUT_COLUMNS])
    for f in factors:  # keep the factors' dtypes (an empty table otherwise makes them object)
        out[f] = out[f].astype(estimates[f].dtype)
    return out.astype({"value": float, "mcse": float, "n_ok": int, "n_failed": int,
                       "n_missing": int})

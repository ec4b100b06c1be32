r"""Text printouts of the comparator results, as meta-analysts know them from R metafor.

``print(result)`` of every comparator result shows what ``print.rma`` of R metafor
shows for its fits (Viechtbauer 2010, J Stat Softw 36(3)), in a layout of this package:
the model and the number of studies, the pooled estimate with its standard error, the
z (or t) statistic, p-value and confidence interval, the prediction interval of a new
study, and the heterogeneity — :math:`\tau^2` (with its Q-profile interval), :math:`\tau`,
:math:`I^2`, :math:`H^2` and Cochran's :math:`Q` with its degrees of freedom and
p-value. ``repr(result)`` is the same text for one analysis (R prints an object the
same way whether it is typed or passed to ``print``); a result holding many replicates
prints one short paragraph instead. ``result.summary()`` stays the tidy frame.

Numbers are written with ``digits`` decimals (default 4, metafor's default); numbers
smaller than :math:`10^{-digits}` in absolute value (but not 0) in scientific notation
with ``digits`` significant digits, so that e.g. a :math:`\tau^2` of risk differences is
not shown as 0; p-values below :math:`10^{-digits}` as ``< 0.0001``; :math:`I^2` and
:math:`H^2` with 2 decimals.

The functions here read the result objects' attributes only (duck typing: hinted
``Any``, the class named in each docstring), so that the result modules can import them
without an import cycle.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from bayes_hte.comparators.results import critical_value

__all__ = ["causal_meta_text", "cima_estimate_text", "cima_text", "format_number",
           "format_p", "maic_text", "meta_analysis_text", "metareg_text", "mixed_model_text",
           "mvmeta_text",
           "per_trial_text", "stc_text", "text_table", "two_step_text"]

#: Names of the effect measures in the headers.
MEASURE_NAMES = {"RD": "risk difference", "RR": "risk ratio", "OR": "odds ratio"}


# =========================================================================== numbers
def format_number(x: float, *, digits: int = 4) -> str:
    """One number as the printouts write it.

    Parameters
    ----------
    x : float
        The number (``None`` and non-finite values are written ``"nan"``, ``"inf"``,
        ``"-inf"``).
    digits : int
        Decimals (default 4).

    Returns
    -------
    str
        Fixed-point with ``digits`` decimals, or scientific notation with ``digits``
        significant digits when ``0 < |x| < 10**-digits``.
    """
    if x is None:
        return "nan"
    x = float(x)
    if not math.isfinite(x):
        return str(x)
    if x != 0 and abs(x) < 10.0**-digits:
        return f"{x:.{max(digits - 1, 0)}e}"
    return f"{x:.{digits}f}"


def format_p(p: float, *, digits: int = 4) -> str:
    """A p-value: ``digits`` decimals, or ``"< 0.0001"`` below :math:`10^{-digits}`.

    Parameters
    ----------
    p : float
        The p-value.
    digits : int
        Decimals (default 4).

    Returns
    -------
    str
        E.g. ``"0.0019"`` or ``"< 0.0001"``; ``"nan"`` when not finite.
    """
    p = float(p)
    if not math.isfinite(p):
        return "nan"
    floor = 10.0**-digits
    return f"< {floor:.{digits}f}" if p < floor else f"{p:.{digits}f}"


def _pct(x: float) -> str:
    return "nan" if not math.isfinite(float(x)) else f"{float(x):.2f}%"


def _level(ci_prob: float) -> str:
    return f"{100 * ci_prob:g}%"


def text_table(frame: pd.DataFrame, *, indent: int = 2, index: bool = True) -> str:
    """A table of strings as aligned text: right-aligned columns, two spaces apart.

    Parameters
    ----------
    frame : pandas.DataFrame
        The cells (written with ``str``); the column names are the header.
    indent : int
        Spaces before every line.
    index : bool
        Write the index as the first (left-aligned) column.

    Returns
    -------
    str
        Header line and one line per row, joined by newlines.
    """
    cols = [[str(c), *(str(v) for v in frame[c])] for c in frame.columns]
    widths = [max(len(s) for s in col) for col in cols]
    lines = []
    labels = [""] + [str(i) for i in frame.index] if index else None
    lw = max(len(s) for s in labels) if labels else 0
    for r in range(len(frame) + 1):
        cells = [col[r].rjust(w) for col, w in zip(cols, widths, strict=True)]
        head = [labels[r].ljust(lw)] if labels else []
        lines.append(" " * indent + "  ".join(head + cells).rstrip())
    return "\n".join(lines)


def _row_table(rows: Sequence[dict], index: Sequence[str] | None = None, *,
               index_name: bool = True) -> str:
    frame = pd.DataFrame(list(rows), index=None if index is None else list(index))
    return text_table(frame, index=index is not None and index_name)


def _estimate_row(estimate: float, se: float, stat: float, p: float, lo: float, hi: float,
                  *, digits: int, stat_name: str = "z", df: float | None = None) -> dict:
    f = lambda v: format_number(v, digits=digits)  # noqa: E731
    row = {"estimate": f(estimate), "se": f(se), stat_name: f(stat)}
    if df is not None:
        row["df"] = f"{df:g}"
    row.update({"p": format_p(p, digits=digits), "ci_low": f(lo), "ci_high": f(hi)})
    return row


# =========================================================================== univariate
def _measure_line(measure: str | None, scale: str) -> str | None:
    if measure is None:
        return "Effect sizes on the log scale" if scale == "log" else None
    name = MEASURE_NAMES.get(measure, measure)
    if scale == "log":
        return f"Effect measure: log {name} (log {measure}); exp() gives the {measure}"
    return f"Effect measure: {name} ({measure})" if name != measure else \
        f"Effect measure: {measure}"


def meta_analysis_text(result: Any, *, digits: int = 4) -> str:
    r"""The printout of a univariate meta-analysis (``print(result)``).

    Parameters
    ----------
    result : MetaAnalysisResult
        From :func:`bayes_hte.comparators.meta_analysis`.
    digits : int
        Decimals of the numbers (default 4).

    Returns
    -------
    str
        The model line (``"Random-Effects Model (k = 13; tau^2 estimator: REML)"`` or
        ``"Fixed-Effect Model (k = 13)"``), the effect measure, the pooled estimate
        (estimate, se, z or t with its df, p, CI), the prediction interval
        (random-effects models), the heterogeneity (:math:`\tau^2` with its Q-profile
        interval, :math:`\tau`, :math:`I^2`, :math:`H^2`, :math:`Q` with df and p) and,
        for log-scale effect sizes, the estimate and intervals exponentiated. A result
        of many replicates gives the model line and the replicate count.
    """
    fe = result.method == "FE"
    head = (f"Fixed-Effect Model (k = {result.k})" if fe else
            f"Random-Effects Model (k = {result.k}; tau^2 estimator: {result.method})")
    if result.shape != ():
        n = int(np.prod(result.shape))
        bad = int(np.size(result.converged) - np.count_nonzero(result.converged))
        return (f"{head}\n{n} meta-analyses (replicate shape {result.shape}); "
                f"{bad} not converged. result.summary() has one row per replicate.")
    f = lambda v: format_number(v, digits=digits)  # noqa: E731
    level = _level(result.ci_prob)
    lines = [head]
    measure = _measure_line(result.measure, result.scale)
    if measure:
        lines.append(measure)
    test = (f"t test on {result.df:g} df, Hartung-Knapp-Sidik-Jonkman"
            if result.knha else "z test")
    lines += ["", f"Pooled effect ({level} CI, {test}):"]
    row = _estimate_row(result.estimate, result.se, result.statistic, result.p,
                        result.ci_low, result.ci_high, digits=digits,
                        stat_name="t" if result.knha else "z",
                        df=result.df if result.knha else None)
    lines.append(_row_table([row]))
    if not fe:
        quantile = ("t_{k-2}, Higgins et al. 2009" if result.pi_type == "higgins"
                    else (f"t_{{{result.k - 1}}}" if result.knha else "normal"))
        lines += ["", f"Prediction interval for a new study ({level}, {quantile} "
                  f"quantile): {f(result.pi_low)} to {f(result.pi_high)}"]
    lines += ["", "Heterogeneity:"]
    if not fe:
        t2lo, t2hi = np.asarray(result.tau2_ci, dtype=float)
        i2lo, i2hi = np.asarray(result.i2_ci, dtype=float)
        if np.isfinite(t2lo) and np.isfinite(t2hi):
            t2ci = f"  ({level} Q-profile CI {f(t2lo)} to {f(t2hi)})"
            tci = f"  ({level} CI {f(np.sqrt(t2lo))} to {f(np.sqrt(t2hi))})"
            i2ci = f"  ({level} CI {_pct(i2lo)} to {_pct(i2hi)})"
        else:
            t2ci = tci = i2ci = ""
        t2se = float(result.tau2_se)
        t2se = f" (SE {f(t2se)})" if math.isfinite(t2se) else ""
        lines += [f"  tau^2 (between-study variance)     {f(result.tau2)}{t2se}{t2ci}",
                  f"  tau   (between-study SD)           {f(result.tau)}{tci}"]
    else:
        i2ci = ""
    lines += [f"  I^2   (heterogeneity / total)      {_pct(result.i2)}{i2ci}",
              f"  H^2   (total / sampling variance)  {float(result.h2):.2f}",
              f"  Q = {f(result.q)} on {result.q_df} df, p {_p_words(result.q_p, digits)}"]
    if result.scale == "log":
        name = result.measure or "exp(effect)"
        exp = np.exp
        back = (f"On the {name} scale: {f(exp(result.estimate))}, {level} CI "
                f"{f(exp(result.ci_low))} to {f(exp(result.ci_high))}")
        if not fe:
            back += f"; prediction interval {f(exp(result.pi_low))} to {f(exp(result.pi_high))}"
        lines += ["", back]
    return "\n".join(lines)


def metareg_text(result: Any, *, digits: int = 4) -> str:
    r"""The printout of a meta-regression (``print(fit)``), as ``print.rma`` with ``mods``.

    Parameters
    ----------
    result : MetaRegression
        From :func:`bayes_hte.comparators.meta_regression`.
    digits : int
        Decimals of the numbers (default 4).

    Returns
    -------
    str
        The model line (``"Mixed-Effects Model (k = 13; tau^2 estimator: REML)"`` or
        ``"Fixed-Effects with Moderators Model (k = 13)"``), the effect measure, the
        residual heterogeneity (:math:`\tau^2` with its SE, :math:`\tau`, :math:`I^2`,
        :math:`H^2`, :math:`R^2`), the test of residual heterogeneity :math:`Q_E`, the
        test of the moderators :math:`Q_M` (:math:`\chi^2`, or F with ``knha``) and the
        coefficient table (estimate, se, z or t, p, CI). Many replicates: the model line
        and the replicate count.
    """
    fe = result.method == "FE"
    head = (f"Fixed-Effects with Moderators Model (k = {result.k})" if fe else
            f"Mixed-Effects Model (k = {result.k}; tau^2 estimator: {result.method})")
    if result.n_replicates != 1:
        bad = int(np.size(result.converged) - np.count_nonzero(result.converged))
        return (f"{head}\n{result.n_replicates} meta-regressions (trailing axis of .beta); "
                f"{bad} not converged.")
    f = lambda v: format_number(v, digits=digits)  # noqa: E731
    one = {name: float(np.ravel(getattr(result, name))[0])
           for name in ("tau2", "tau2_se", "i2", "h2", "r2", "qe", "qe_p", "qm", "qm_p")}
    p = len(result.names)
    beta, se = np.reshape(result.beta, (p, -1))[:, 0], np.reshape(result.se, (p, -1))[:, 0]
    zt, pval = (np.reshape(result.statistic, (p, -1))[:, 0],
                np.reshape(result.p, (p, -1))[:, 0])
    ci = np.reshape(result.ci, (2, p, -1))[..., 0]
    lines = [head]
    measure = _measure_line(result.measure, result.scale)
    if measure:
        lines.append(measure)
    lines += ["", "Residual heterogeneity:"]
    if not fe:
        t2se = f" (SE {f(one['tau2_se'])})" if math.isfinite(one["tau2_se"]) else ""
        lines += [f"  tau^2 (residual between-study variance)  {f(one['tau2'])}{t2se}",
                  f"  tau   (residual between-study SD)        {f(math.sqrt(one['tau2']))}"]
    lines += [f"  I^2   (residual heterogeneity / total)   {_pct(one['i2'])}",
              f"  H^2   (total / sampling variance)        {one['h2']:.2f}"]
    if math.isfinite(one["r2"]):
        lines.append(f"  R^2   (heterogeneity accounted for)      {_pct(one['r2'])}")
    lines += ["", f"Test for residual heterogeneity: QE = {f(one['qe'])} on {result.qe_df} "
              f"df, p {_p_words(one['qe_p'], digits)}"]
    if result.qm_df:
        mods = [n for n in result.names if n != "intrcpt"]
        stat = (f"F({result.qm_df}, {result.df:g}) = {f(one['qm'])}" if result.knha
                else f"QM = {f(one['qm'])} on {result.qm_df} df")
        lines.append(f"Test of the moderators ({', '.join(mods)}): {stat}, "
                     f"p {_p_words(one['qm_p'], digits)}")
    test = (f"t test on {result.df:g} df, Knapp-Hartung" if result.knha else "z test")
    lines += ["", f"Coefficients ({_level(result.ci_prob)} CI, {test}):"]
    rows = [_estimate_row(beta[j], se[j], zt[j], pval[j], ci[0, j], ci[1, j],
                          digits=digits, stat_name="t" if result.knha else "z")
            for j in range(p)]
    lines.append(_row_table(rows, index=list(result.names)))
    return "\n".join(lines)


def _p_words(p: float, digits: int) -> str:
    text = format_p(p, digits=digits)
    return text if text.startswith("<") else f"= {text}"


# =========================================================================== causal
def causal_meta_text(result: Any, *, digits: int = 4) -> str:
    r"""The printout of a causal meta-analysis (``print(result)``).

    Parameters
    ----------
    result : CausalMetaResult
        From :func:`bayes_hte.comparators.causal_meta_analysis`.
    digits : int
        Decimals of the numbers (default 4).

    Returns
    -------
    str
        The model line (k, n, measure, weights, variance), the pooled risks
        :math:`\hat\psi_1, \hat\psi_0` with their standard errors, and the causal
        effect :math:`\hat\theta(P^*)` (estimate, se, log se for ratios, z, p, CI on
        the natural scale).
    """
    t = result.table
    weights = "n_k / n" if result.weighting == "sample_size" else "user-given"
    level = _level(result.ci_prob)
    lines = [f"Causal Meta-Analysis (k = {t.k}; n = {int(t.n.sum()):,}; measure: "
             f"{result.measure}; weights: {weights}; variance: {result.variance})",
             f"Target: theta(P*), the {MEASURE_NAMES[result.measure]} of the pooled risks in "
             "P*, the population", "        mixing the trials (Berenfeld et al. 2026)", "",
             "Pooled risks:"]
    f = lambda v: format_number(v, digits=digits)  # noqa: E731
    lines.append(_row_table(
        [{"risk": f(result.psi1), "se": f(np.sqrt(result.var_psi1))},
         {"risk": f(result.psi0), "se": f(np.sqrt(result.var_psi0))}],
        index=["treated (psi1)", "control (psi0)"]))
    ratio = result.measure != "RD"
    scale = "z test and CI on the log scale" if ratio else "z test"
    lines += ["", f"Causal effect ({level} CI, {scale}):"]
    row = {"estimate": f(result.estimate), "se": f(result.se)}
    if ratio:
        row["log_se"] = f(result.log_se)
    row.update({"z": f(result.z), "p": format_p(result.p, digits=digits),
                "ci_low": f(result.ci_low), "ci_high": f(result.ci_high)})
    lines.append(_row_table([row]))
    return "\n".join(lines)


# =========================================================================== multivariate
def mvmeta_text(result: Any, *, digits: int = 4) -> str:
    r"""The printout of a multivariate meta-analysis (``print(result)``).

    Parameters
    ----------
    result : MVMetaResult
        From :func:`bayes_hte.comparators.mvmeta`.
    digits : int
        Decimals of the numbers (default 4).

    Returns
    -------
    str
        The model line (k, p, method, :math:`\Omega` structure), the fit statistics
        (log-likelihood, AIC, BIC, parameters, convergence), the between-study variance
        components (:math:`\tau^2`, :math:`\tau`, studies per coefficient) and
        correlations, the multivariate :math:`Q` with df and p and :math:`I^2`, and the
        pooled coefficients (estimate, se, z, p, CI, prediction interval). A result of
        many replicates gives the model line and the replicate count.
    """
    fe = result.method == "FE"
    model = "Multivariate Fixed-Effect Model" if fe else "Multivariate Random-Effects Model"
    omega = "" if fe else f"; Omega: {result.structure}"
    head = (f"{model} (k = {result.k} studies; p = {result.p} coefficients; method: "
            f"{result.method}{omega})")
    if np.ndim(result.loglik) != 0:
        n = np.shape(result.loglik)[0]
        bad = int(n - np.count_nonzero(result.converged))
        return (f"{head}\n{n} replicates; {bad} not converged. "
                "result.summary(replicate=i) gives one replicate's coefficients.")
    f = lambda v: format_number(v, digits=digits)  # noqa: E731
    level = _level(result.ci_prob)
    lik = "restricted log-likelihood" if result.method == "REML" else "log-likelihood"
    lines = [head, "",
             f"Fit: {lik} {f(result.loglik)}; AIC {f(result.aic)}; BIC {f(result.bic)}; "
             f"{result.n_params} parameters; "
             f"{'converged' if result.converged else 'NOT converged'}"]
    names = list(result.names)
    n_studies = np.isfinite(result.estimates).sum(axis=0)
    common = result.structure in ("compound_symmetry", "identity")
    if not fe and common:
        rho = (f"; correlation rho {f(result.corr[0, 1])}"
               if result.structure == "compound_symmetry" and result.p > 1 else
               "; correlations 0" if result.p > 1 else "")
        lines += ["", f"Between-study variance (common to the coefficients): tau^2 "
                  f"{f(result.tau2[0])}; tau {f(result.tau[0])}{rho}"]
    elif not fe:
        lines += ["", "Between-study variance components:",
                  _row_table([{"tau^2": f(t2), "tau": f(t), "studies": str(int(n))}
                              for t2, t, n in zip(result.tau2, result.tau, n_studies,
                                                  strict=True)], index=names)]
        if result.p > 1 and result.structure == "unstructured":
            corr = result.corr
            frame = pd.DataFrame([[("1" if i == j else f(corr[i, j]))
                                   for j in range(result.p)] for i in range(result.p)],
                                 index=names, columns=names)
            lines += ["", "Between-study correlations:", text_table(frame)]
    lines += ["", f"Heterogeneity: Q = {f(result.q)} on {result.q_df} df, p "
              f"{_p_words(result.q_p, digits)}; I^2 = {_pct(result.i2)}"]
    lines += ["", f"Pooled coefficients ({level} CI, z test"
              f"{'' if fe else '; prediction interval of a new study'}):"]
    rows = []
    z = result.estimate / result.se
    pvals = 2 * _norm_sf(np.abs(z))
    for j in range(result.p):
        row = _estimate_row(result.estimate[j], result.se[j], z[j], pvals[j],
                            result.ci_low[j], result.ci_high[j], digits=digits)
        if not fe:
            row.update(pi_low=f(result.pi_low[j]), pi_high=f(result.pi_high[j]))
        rows.append(row)
    lines.append(_row_table(rows, index=names))
    return "\n".join(lines)


def _norm_sf(x):
    return stats.norm.sf(x)


# =========================================================================== CIMA
def cima_estimate_text(result: Any, *, digits: int = 4, label: str = "estimate") -> str:
    """The printout of one CIMA estimate (``print(result)``): one table row.

    Parameters
    ----------
    result : CIMAEstimate
        An estimate with ``estimate``, ``se``, ``ci_prob`` and ``ci``.
    digits : int
        Decimals of the numbers (default 4).
    label : str
        Row label.

    Returns
    -------
    str
        A title line and the row: estimate, se, z, p, CI.
    """
    z = result.estimate / result.se if result.se else float("nan")
    row = _estimate_row(result.estimate, result.se, z, 2 * _norm_sf(abs(z)),
                        result.ci_low, result.ci_high, digits=digits)
    return (f"Estimate ({_level(result.ci_prob)} CI, z test):\n"
            + _row_table([row], index=[label]))


def cima_text(result: Any, *, digits: int = 4) -> str:
    """The printout of a CIMA-AgD fit (``print(result)``).

    Parameters
    ----------
    result : CIMAResult
        From :func:`bayes_hte.comparators.cima`.
    digits : int
        Decimals of the numbers (default 4).

    Returns
    -------
    str
        The model line (trials, reported effects, CATE and tilting formulas, target and
        options), the target-population ATE and the CATE coefficients (estimate, se,
        z, p, CI), the effects of the reported strata in the target, and how well the
        fitted CATE reproduces the reported effects (largest standardised residual).
    """
    o = result.options
    f = lambda v: format_number(v, digits=digits)  # noqa: E731
    level = _level(result.ci_prob)
    trials = list(result.tilting.index)
    lines = [f"CIMA-AgD: CATE transported to a target population (k = {len(trials)} "
             f"trials; {len(result.moments)} reported effects)",
             f"CATE {o['cate']}; tilting {o['tilting']}",
             f"Target: {o['target']}, {o['n_target']:,} rows; base sample: {o['base']}",
             f"Options: weights {o['weights']}, steps {o['steps']}, representer "
             f"{o['representer']}, correlation {o['correlation']}", "",
             f"Target-population ATE and CATE coefficients ({level} CI, z test):"]
    ate = result.ate
    rows, index = [], ["ATE (target)", *map(str, result.coef.index)]
    ests = [(ate.estimate, ate.se)] + list(zip(result.coef["estimate"], result.coef["se"],
                                               strict=True))
    crit = critical_value(result.ci_prob)
    for est, se in ests:
        z = est / se if se else float("nan")
        lo, hi = est - crit * se, est + crit * se
        rows.append(_estimate_row(est, se, z, 2 * _norm_sf(abs(z)), lo, hi, digits=digits))
    lines.append(_row_table(rows, index=index))
    sub = result.subgroups
    if len(sub):
        frame = pd.DataFrame({
            "subgroup": sub["subgroup"].astype(str), "stratum": sub["stratum"].astype(str),
            "n_target": [f"{int(n):,}" for n in sub["n_target"]],
            "estimate": [f(v) for v in sub["estimate"]], "se": [f(v) for v in sub["se"]],
            "ci_low": [f(v) for v in sub["ci_low"]], "ci_high": [f(v) for v in sub["ci_high"]],
        })
        lines += ["", "Reported strata in the target:", text_table(frame, index=False)]
    mom = result.moments
    if len(mom):
        zres = (mom["residual"] / mom["se"]).abs()
        worst = int(np.argmax(zres.to_numpy()))
        r = mom.iloc[worst]
        lines += ["", f"Fit to the reported effects: largest |residual| / se = "
                  f"{zres.iloc[worst]:.2f} ({r['trial']}, {r['subgroup']} {r['stratum']})"]
    return "\n".join(lines)


# =========================================================================== mixed models
def _coef_rows(summary: pd.DataFrame, digits: int) -> str:
    rows = [_estimate_row(r.estimate, r.se, r.z, r.p, r.ci_low, r.ci_high, digits=digits)
            for r in summary.itertuples()]
    return _row_table(rows, index=[str(i) for i in summary.index])


def mixed_model_text(result: Any, *, digits: int = 4) -> str:
    """The printout of one linear mixed model (``print(result)``).

    Parameters
    ----------
    result : MixedModelResult
        From :func:`bayes_hte.comparators.mixed_model` (or one step-1 fit).
    digits : int
        Decimals of the numbers (default 4).

    Returns
    -------
    str
        The model line (trial, within-participant covariance, likelihood), the fit
        statistics, the variance parameters and the fixed effects (estimate, se, z, p,
        CI; coefficients the trial cannot estimate are written ``nan``).
    """
    f = lambda v: format_number(v, digits=digits)  # noqa: E731
    trial = "all trials pooled" if result.study is None else f"trial {result.study}"
    lik = "restricted log-likelihood" if result.method == "REML" else "log-likelihood"
    lines = [f"Linear Mixed Model ({trial}; within-participant covariance: "
             f"{result.covariance}; {result.method})",
             f"{result.n_subjects} participants, {result.n_obs} measurements; {lik} "
             f"{f(result.loglik)}; AIC {f(result.aic)}; BIC {f(result.bic)}; "
             f"{'converged' if result.converged else 'NOT converged'}"]
    if result.covariance == "random_intercept":
        lines.append(f"SD of the participant intercepts {f(result.sd_intercept)}; "
                     f"residual SD {f(result.sd_error)}")
    lines += ["", f"Fixed effects ({_level(result.ci_prob)} CI, z test):",
              _coef_rows(result.summary(), digits)]
    return "\n".join(lines)


def per_trial_text(result: Any, *, digits: int = 4) -> str:
    """The printout of step 1 of a two-step analysis (``print(result)``).

    Parameters
    ----------
    result : PerTrialMixedModels
        From :func:`bayes_hte.comparators.per_trial_mixed_models`.
    digits : int
        Decimals of the numbers (default 4).

    Returns
    -------
    str
        The model line, one row per trial (participants, measurements, SDs,
        log-likelihood, convergence) and the trials x coefficients estimates.
    """
    f = lambda v: format_number(v, digits=digits)  # noqa: E731
    var = result.variance_summary()
    frame = pd.DataFrame({
        "participants": var["n_subjects"].astype(str), "measurements": var["n_obs"].astype(str),
        "sd_intercept": [f(v) for v in var["sd_intercept"]],
        "sd_error": [f(v) for v in var["sd_error"]],
        "loglik": [f(v) for v in var["loglik"]],
        "converged": ["yes" if c else "NO" for c in var["converged"]]}, index=var.index)
    est = result.estimates_frame().map(f)
    return "\n".join([
        f"Per-trial Linear Mixed Models (k = {len(result.study_labels)} trials; "
        f"within-participant covariance: {result.covariance}; {result.method})", "",
        text_table(frame), "", "Coefficients per trial (nan: not estimable):",
        text_table(est)])


def two_step_text(result: Any, *, digits: int = 4) -> str:
    """The printout of a two-step IPD meta-analysis (``print(result)``).

    Parameters
    ----------
    result : TwoStepResult
        From :func:`bayes_hte.comparators.two_step_ipdma`.
    digits : int
        Decimals of the numbers (default 4).

    Returns
    -------
    str
        Step 1 (:func:`per_trial_text`) and step 2 (:func:`mvmeta_text`).
    """
    return "\n".join(["Two-step IPD meta-analysis", "", "Step 1. "
                      + per_trial_text(result.step1, digits=digits), "",
                      "Step 2. " + mvmeta_text(result.step2, digits=digits)])


# =========================================================================== MAIC / STC
def _adjusted_rows(result: Any, digits: int, extra: Sequence[tuple[str, dict]] = ()) -> str:
    f = lambda v: format_number(v, digits=digits)  # noqa: E731
    ratio = result.measure != "RD"
    items = [(f"{result.method}", {"estimate": result.estimate, "se": result.se,
                                   "log_se": result.log_se, "z": result.z, "p": result.p,
                                   "ci_low": result.ci_low, "ci_high": result.ci_high}),
             *extra]
    if result.observed is not None:
        items += [("observed", result.observed), ("adjusted vs observed", result.difference)]
    rows = []
    for _, d in items:
        row = {"estimate": f(d["estimate"]), "se": f(d["se"])}
        if ratio:
            row["log_se"] = f(d["log_se"])
        row.update({"z": f(d["z"]), "p": format_p(d["p"], digits=digits),
                    "ci_low": f(d["ci_low"]), "ci_high": f(d["ci_high"])})
        rows.append(row)
    return _row_table(rows, index=[name for name, _ in items])


def _adjusted_footer(result: Any) -> list[str]:
    lines = []
    if result.observed is not None:
        what = "ratio of the ratios" if result.measure != "RD" else "difference"
        lines.append(f"observed: the {result.population} counts' own {result.measure}; "
                     f"adjusted vs observed: their {what} (a check of the assumptions)")
    return lines


def _interval_words(result: Any) -> str:
    level = _level(result.ci_prob)
    scale = " on the log scale" if result.measure != "RD" else ""
    if result.variance in ("bootstrap", "draws"):
        return f"{level} percentile interval{scale}"
    return f"{level} CI, z test{scale}"


def maic_text(result: Any, *, digits: int = 4) -> str:
    """The printout of a matching-adjusted indirect comparison (``print(result)``).

    Parameters
    ----------
    result : MAICResult
        From :func:`bayes_hte.comparators.maic`.
    digits : int
        Decimals of the numbers (default 4).

    Returns
    -------
    str
        The model line (IPD trials and patients, population, measure), the weights
        (moments matched, ESS, SE method), the covariate balance (target, IPD and
        weighted means, and SDs of continuous covariates), the adjusted risks and the
        estimates (MAIC, and with counts the observed effect and their difference).
    """
    f = lambda v: format_number(v, digits=digits)  # noqa: E731
    k = len(result.ipd_trials)
    moments = "means and SDs" if result.match_sd else "means"
    se = ("sandwich (M-estimation, weights estimated)" if result.variance == "sandwich"
          else f"bootstrap ({result.n_boot} replicates, {result.n_failed} failed)")
    lines = [f"Matching-Adjusted Indirect Comparison (MAIC; IPD: {k} trial"
             f"{'s' if k > 1 else ''}, n = {result.n_ipd:,}; population: {result.population}; "
             f"measure: {result.measure})",
             f"Weights w = exp(x'a) matching the {moments} of {len(result.covariates)} "
             f"covariate{'s' if len(result.covariates) != 1 else ''} (Signorovitch et al. "
             "2010)",
             f"Effective sample size {result.ess:.1f} of {result.n_ipd:,} "
             f"({100 * result.ess / result.n_ipd:.1f}%); SE: {se}", ""]
    bal = result.balance
    if len(bal):
        cols = {"target": "target", "ipd": "ipd", "weighted": "weighted"}
        frame = pd.DataFrame({v: [f(x) for x in bal[c]] for c, v in cols.items()},
                             index=bal.index)
        if bal["target_sd"].notna().any():
            for c in ("target_sd", "ipd_sd", "weighted_sd"):
                frame[c] = ["" if not math.isfinite(x) else f(x) for x in bal[c]]
        lines += ["Covariate balance (means; SDs of continuous covariates):",
                  text_table(frame), ""]
    if len(result.ipd_trials) > 1:
        share = ", ".join(f"{s} {100 * v:.1f}%" for s, v in result.trial_share.items())
        lines += [f"IPD trials' shares of the weighted population: {share}", ""]
    lines += ["Adjusted risks in the population:",
              _row_table([{"risk": f(result.psi1)}, {"risk": f(result.psi0)}],
                         index=["treated (psi1)", "control (psi0)"]), "",
              f"Estimates ({_interval_words(result)}):", _adjusted_rows(result, digits),
              *_adjusted_footer(result)]
    return "\n".join(lines)


def stc_text(result: Any, *, digits: int = 4) -> str:
    """The printout of a simulated treatment comparison (``print(result)``).

    Parameters
    ----------
    result : STCResult
        From :func:`bayes_hte.comparators.stc`.
    digits : int
        Decimals of the numbers (default 4).

    Returns
    -------
    str
        The model line (IPD, population, measure), the regression's terms and
        integration, its coefficients (estimate, se, z, p, CI), the marginal risks and
        the estimates: STC (marginal), the plug-in at the means (conditional), and with
        counts the observed effect and their difference.
    """
    f = lambda v: format_number(v, digits=digits)  # noqa: E731
    k = len(result.ipd_trials)
    em = ", ".join(result.effect_modifiers) or "none"
    se = ("delta method" if result.variance == "delta"
          else f"parametric draws ({result.n_draws})")
    lines = [f"Simulated Treatment Comparison (STC; IPD: {k} trial{'s' if k > 1 else ''}, "
             f"n = {result.n_ipd:,}; population: {result.population}; measure: "
             f"{result.measure})",
             f"Logistic regression: {'trial intercepts' if k > 1 else 'intercept'}, "
             f"{len(result.covariates)} covariate{'s' if len(result.covariates) != 1 else ''},"
             f" treatment, interactions with: {em}",
             f"Marginal effect: risks averaged over {result.n_points:,} Gaussian-copula points "
             f"of the population; SE: {se}", "", "Outcome regression (log odds, z test):",
             _coef_rows(result.coef, digits), "",
             "Marginal risks in the population:",
             _row_table([{"risk": f(result.psi1)}, {"risk": f(result.psi0)}],
                        index=["treated (psi1)", "control (psi0)"]), "",
             f"Estimates ({_interval_words(result)}):",
             _adjusted_rows(result, digits, extra=[("plug-in at means", result.conditional)]),
             "plug-in at means: the conditional effect of a patient with the mean covariates, "
             "not the marginal estimand",
             *_adjusted_footer(result)]
    return "\n".join(lines)

"""Inputs of CIMA-AgD: individual covariate rows, trial sizes and reported feature means."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from bayes_hte.comparators.cima.formula import Term
from bayes_hte.data.summaries import OVERALL, CovariateSummary
from bayes_hte.errors import DataError, DataWarning, format_rows

__all__ = ["check_binary_shares", "individual_rows", "is_summary_frame", "term_moment",
           "trial_sizes"]

#: Largest difference, as a proportion of the trial, between a binary covariate's summary
#: mean and the share of its level-1 subgroup stratum that passes without a warning (the
#: rounding of reported percentages and counts stays well below it).
SHARE_MISMATCH = 0.05


def check_binary_shares(eff: pd.DataFrame, cov: CovariateSummary) -> None:
    """Warn where a binary covariate's reported mean and the share of the trial in its
    level-1 subgroup stratum disagree by more than :data:`SHARE_MISMATCH`.

    CIMA reads the two as one covariate: the summary fixes the tilting, the strata the
    subgroup effects. A subgroup defined otherwise than the baseline characteristic (a
    time window, another threshold) breaks that silently. The share is taken among the
    patients of both levels when both are reported (patients with the covariate missing
    left out), as the summary mean is.

    Parameters
    ----------
    eff : pandas.DataFrame
        Validated effects (:func:`bayes_hte.data.summaries.validate_effects`: columns
        ``trial``, ``subgroup``, ``prop``, ``_stratum``).
    cov : CovariateSummary
        The trials' covariate summaries.
    """
    found: dict[str, list[str]] = {}
    sub = eff[eff["subgroup"] != OVERALL]
    for (trial, name), g in sub.groupby(["trial", "subgroup"], sort=False):
        if cov.kinds.get(name) != "binary" or trial not in cov.trials:
            continue
        shares = {s.level: float(p) for s, p in zip(g["_stratum"], g["prop"], strict=True)
                  if s.kind == "level"}
        rows = cov.rows(trial)
        if 1.0 not in shares or name not in rows.index:
            continue
        share = shares[1.0] / (shares[1.0] + shares[0.0]) if 0.0 in shares else shares[1.0]
        mean = float(rows.loc[name, "mean"])
        if abs(share - mean) > SHARE_MISMATCH:
            found.setdefault(name, []).append(
                f"{trial!r} (summary mean {mean:.3g}, stratum share {share:.3g})")
    for name, where in found.items():
        warnings.warn(
            f"the covariate summary and the subgroup strata disagree on the share of "
            f"patients with {name} = 1 in {'trial' if len(where) == 1 else 'trials'} "
            f"{', '.join(where)}: CIMA reads both as one "
            f"covariate; check that the subgroup {name!r} is the baseline characteristic "
            "the summary describes (not, e.g., one over a time window)",
            DataWarning, stacklevel=5)


def term_moment(term: Term, rows: pd.DataFrame, kinds: Mapping[str, str], trial: str) -> float:
    """Trial mean of a tilting feature from the reported summaries.

    ``x`` -> mean; ``I(x^2)`` -> mean^2 + sd^2 (continuous) or mean (binary); any other
    term must be reported as its own row of the covariates table, ``covariate`` equal to
    the term's label (e.g. ``"x1:x2"`` with the trial mean of the product).

    Parameters
    ----------
    term : Term
        A tilting feature.
    rows : pandas.DataFrame
        The trial's covariate summaries indexed by covariate (``mean``, ``sd``).
    kinds : mapping
        ``covariate -> "binary" | "continuous"``.
    trial : str
        Trial label (error messages).

    Returns
    -------
    float

    Raises
    ------
    DataError
        The summaries cannot give the feature's mean.
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


def is_summary_frame(df: pd.DataFrame) -> bool:
    """Whether a frame is a covariate summary (``covariate``, ``mean`` columns).

    Parameters
    ----------
    df : pandas.DataFrame

    Returns
    -------
    bool
    """
    return {"covariate", "mean"}.issubset(df.columns)


def individual_rows(df: pd.DataFrame, needed: Sequence[str], kinds: Mapping[str, str],
                    what: str) -> pd.DataFrame:
    """Validated numeric covariate rows (a target or base sample).

    Parameters
    ----------
    df : pandas.DataFrame
        One row per individual.
    needed : sequence of str
        Columns to keep.
    kinds : mapping
        ``covariate -> "binary" | "continuous"``; binary columns must be 0/1.
    what : str
        Name of the sample in error messages.

    Returns
    -------
    pandas.DataFrame
        The ``needed`` columns as floats, with a fresh 0..n-1 index.

    Raises
    ------
    DataError
        Missing columns, fewer than 2 rows, non-numeric or non-finite values, binary
        columns that are not 0/1.
    """
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
            raise DataError(f"{what} column {c!r} has missing or non-finite values at "
                            f"{format_rows(df.index[bad])}; impute or remove them")
        if kinds.get(c) == "binary" and not np.isin(v, (0.0, 1.0)).all():
            raise DataError(f"{what} column {c!r} must be 0/1: the covariate summaries give it "
                            "as a proportion (empty sd)")
        out[c] = v
    return out.reset_index(drop=True)


def trial_sizes(eff: pd.DataFrame, cov: CovariateSummary, trials: list[str]) -> np.ndarray:
    """Size of each trial: its overall effect's ``n``, else the largest ``n`` of its effects
    rows, else the largest ``n`` of its covariate summaries.

    Parameters
    ----------
    eff : pandas.DataFrame
        Validated reported effects.
    cov : CovariateSummary
        The trials' covariate summaries.
    trials : list of str
        Trial labels, in the order wanted.

    Returns
    -------
    ndarray, shape (len(trials),)

    Raises
    ------
    DataError
        A trial whose size is unknown.
    """
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


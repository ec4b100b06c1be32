"""Results of CIMA-AgD: the target-population ATE and the fitted CATE."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bayes_hte.comparators.cima.formula import Term, design_matrix
from bayes_hte.comparators.printout import cima_estimate_text, cima_text
from bayes_hte.comparators.results import WaldInterval, interval_columns, wald_interval
from bayes_hte.data.summaries import Stratum, parse_stratum
from bayes_hte.errors import DataError

__all__ = ["CIMAEstimate", "CIMAResult"]


@dataclass(frozen=True)
class CIMAEstimate(WaldInterval):
    """A scalar estimate with its standard error and Wald interval.

    Parameters
    ----------
    estimate, se : float
        The estimate and its standard error (scale of the reported effects).
    ci_prob : float
        Probability of the interval ``ci`` (``ci_low``, ``ci_high``).
    """

    estimate: float
    se: float
    ci_prob: float = 0.95

    def __str__(self) -> str:
        """Printout (:func:`bayes_hte.comparators.printout.cima_estimate_text`)."""
        return cima_estimate_text(self)

    __repr__ = __str__

    def summary(self) -> pd.DataFrame:
        """One row: ``estimate, se, ci_low, ci_high``.

        Returns
        -------
        pandas.DataFrame
        """
        return pd.DataFrame({"estimate": [self.estimate], "se": [self.se],
                             "ci_low": [self.ci_low], "ci_high": [self.ci_high]})


@dataclass(eq=False)
class CIMAResult:
    """Result of :func:`cima`.

    Parameters
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
    omega : ndarray, shape (J, J)
        Covariance :math:`\\hat\\Omega` of the J moment equations.
    D : ndarray, shape (J, p)
        Moment matrix: :math:`D\\theta` are the model moments of the reported effects.
    W : ndarray, shape (J, J)
        GMM weighting matrix of the last step.
    target : pandas.DataFrame
        The target sample the CATE is marginalised over (one row per individual).
    cate_terms : list of Term
        The parsed CATE formula.
    kinds : dict
        ``covariate -> "binary" | "continuous"``.
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
        """CATE coefficients :math:`\\hat\\theta`, shape (p,)."""
        return self.coef["estimate"].to_numpy()

    @property
    def ci_prob(self) -> float:
        """Probability of the intervals."""
        return float(self.options["ci_prob"])

    def target_design(self) -> np.ndarray:
        """CATE model matrix :math:`b(x_l)` of the target sample, shape (N_T, p).

        Returns
        -------
        ndarray
        """
        return design_matrix(self.cate_terms, self.target, what="target sample")

    def average_effect(self, B: np.ndarray, mask: np.ndarray | None = None
                       ) -> tuple[float, float]:
        r"""Average CATE over target rows and its standard error (module formula).

        Parameters
        ----------
        B : ndarray, shape (N_T, p)
            :meth:`target_design`.
        mask : ndarray of bool, shape (N_T,), optional
            The target rows averaged over (default: all).

        Returns
        -------
        (float, float)
            :math:`\hat\psi` and its standard error; ``nan`` for an empty subgroup.
        """
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
        of ``newdata``.

        Parameters
        ----------
        newdata : pandas.DataFrame
            Covariate rows (a column per variable of the CATE).

        Returns
        -------
        pandas.DataFrame
            ``estimate, se, ci_low, ci_high``, indexed as ``newdata``.

        Raises
        ------
        DataError
            A CATE variable missing from ``newdata`` or a term not finite on a row.
        """
        B = design_matrix(self.cate_terms, newdata, what="newdata")
        est = B @ self.theta
        se = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", B, self.vcov.to_numpy(), B), 0))
        lo, hi = wald_interval(est, se, self.ci_prob)
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

        Raises
        ------
        DataError
            ``by`` empty or not a mapping, a covariate that is not a target column, a
            stratum that is not valid for the covariate.
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
        B = self.target_design()
        rows = []
        for combo in itertools.product(*parsed.values()):
            mask = np.ones(len(self.target), dtype=bool)
            for cov, st in zip(parsed, combo, strict=True):
                mask &= st.mask(self.target[cov].to_numpy(dtype=float))
            est, se = self.average_effect(B, mask)
            row = {cov: st.label for cov, st in zip(parsed, combo, strict=True)}
            row.update(n_target=int(mask.sum()), estimate=est, se=se)
            rows.append(row)
        return interval_columns(pd.DataFrame(rows), self.ci_prob)

    def summary(self) -> pd.DataFrame:
        """The target ATE and the CATE coefficients.

        Returns
        -------
        pandas.DataFrame
            ``estimate, se, ci_low, ci_high``; first row ``"ATE (target)"``, then one
            row per CATE term.
        """
        ate = self.ate.summary()
        ate.index = ["ATE (target)"]
        return pd.concat([ate, self.coef])

    def __str__(self) -> str:
        """metafor-style printout (:func:`bayes_hte.comparators.printout.cima_text`)."""
        return cima_text(self)

    __repr__ = __str__


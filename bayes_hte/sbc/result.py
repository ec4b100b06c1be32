"""SBC results: the rank table, per-fit diagnostics, uniformity tests and PIT data."""

from __future__ import annotations

import functools
import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from bayes_hte.sbc.core import DIAGNOSTICS
from bayes_hte.studies.result import StudyResult

#: Family-wise level of the per-model verdict (Holm over the model's quantities).
ALPHA = 0.05
#: Posterior SD at or below which an element is a structural constant, not ranked.
CONSTANT_SD = 1e-9


def _kind(quantity: str) -> str:
    if quantity == "loglik":
        return "loglik"
    if quantity.startswith("ite["):
        return "ite"
    return "parameter"


def _holm(p: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values (Holm 1979, Scand J Stat 6:65)."""
    p = np.asarray(p, dtype=float)
    m = len(p)
    order = np.argsort(p)
    adj = np.empty(m)
    running = 0.0
    for i, k in enumerate(order):
        running = max(running, min(1.0, (m - i) * p[k]))
        adj[k] = running
    return adj


@dataclass(frozen=True, eq=False)
class SBCResult:
    """Ranks of every test quantity in every simulation, from :func:`bayes_hte.sbc.run`.

    Parameters
    ----------
    study : StudyResult
        The underlying simulation-study result (scenario factor ``model``; method
        ``"nuts"``; estimand = quantity; ``estimate`` = rank).

    Attributes
    ----------
    ranks : pandas.DataFrame
        One row per (model, simulation, quantity) — structural constants (posterior SD
        at most :data:`CONSTANT_SD`, e.g. a correlation matrix's diagonal) left out:
        ``model``, ``simulation`` (int),
        ``quantity`` (``"mu"``, ``"theta[x1]"``, ``"loglik"``, ``"ite[0]"``),
        ``kind`` (``"parameter"``, ``"loglik"`` or ``"ite"``), ``rank`` (int in
        ``0..n_draws``), ``n_draws`` (:math:`L`), ``pit`` (randomised PIT
        :math:`(r + v)/(L + 1)`, :math:`v \\sim U(0, 1)` seeded by simulation and
        quantity: exactly uniform on (0, 1) under calibration), ``post_sd``,
        ``covered`` (the truth inside the central 95% posterior interval, from the rank).
    fits : pandas.DataFrame
        One row per (model, simulation): ``divergences``, ``max_rhat``,
        ``min_ess_bulk``, ``seconds``, ``error`` (``""`` when the fit succeeded; failed
        fits are kept and counted, never dropped).
    """

    study: StudyResult

    @functools.cached_property
    def fits(self) -> pd.DataFrame:
        est = self.study.estimates
        err = est.groupby(["model", "replicate"], sort=False)["error"].first()
        diag = est[est["estimand"].str.startswith("~")]
        wide = diag.pivot_table(index=["model", "replicate"], columns="estimand",
                                values="estimate", aggfunc="first")
        wide.columns = [c.lstrip("~") for c in wide.columns]
        out = pd.DataFrame(index=err.index).join(wide).join(err)
        out = out.reset_index().rename(columns={"replicate": "simulation"})
        for col in (d.lstrip("~") for d in (*DIAGNOSTICS, "~seconds")):
            if col not in out:
                out[col] = np.nan
        return out[["model", "simulation", "divergences", "max_rhat", "min_ess_bulk",
                    "seconds", "error"]]

    @functools.cached_property
    def ranks(self) -> pd.DataFrame:
        est = self.study.estimates
        # structurally constant elements (a correlation matrix's unit diagonal, an LKJ
        # factor's zeros) carry no information: their ranks only reflect rounding
        ok = est[(est["error"] == "") & ~est["estimand"].str.startswith("~")
                 & (est["estimand"] != "") & ~(est["se"] <= CONSTANT_SD)]
        n_draws = est[est["estimand"] == "~n_draws"].set_index(
            ["model", "replicate"])["estimate"]
        out = pd.DataFrame({"model": ok["model"].to_numpy(),
                            "simulation": ok["replicate"].to_numpy(),
                            "quantity": ok["estimand"].to_numpy(),
                            "rank": ok["estimate"].to_numpy().astype(int),
                            "post_sd": ok["se"].to_numpy()})
        out["kind"] = out["quantity"].map(_kind)
        key = pd.MultiIndex.from_arrays([out["model"], out["simulation"]])
        out["n_draws"] = n_draws.reindex(key).to_numpy().astype(int)
        seeds = [zlib.crc32(f"{m}|{int(s)}|{q}".encode()) for m, s, q in
                 zip(out["model"], out["simulation"], out["quantity"], strict=True)]
        v = np.array([np.random.default_rng(s).uniform() for s in seeds])
        out["pit"] = (out["rank"] + v) / (out["n_draws"] + 1)
        lo = 0.025 * out["n_draws"]
        hi = 0.975 * out["n_draws"]
        out["covered"] = (out["rank"] >= lo) & (out["rank"] <= hi)
        return out[["model", "simulation", "quantity", "kind", "rank", "n_draws", "pit",
                    "post_sd", "covered"]]

    def uniformity(self) -> pd.DataFrame:
        """Uniformity test of each quantity's ranks, and a verdict per quantity.

        The test is ArviZ's ``uniformity_test`` with the ``"pot_c"`` method (Tesso,
        Säilynoja, Vehtari et al. 2026: the Cauchy combination of pointwise binomial
        tests of the PIT ECDF, good power against local departures) on the randomised
        PIT values. p-values are Holm-adjusted over the quantities of each model; the
        verdict is ``"fail"`` when the adjusted p-value is below :data:`ALPHA`.

        Returns
        -------
        pandas.DataFrame
            ``model``, ``quantity``, ``kind``, ``n`` (simulations), ``test``
            (``"pot_c"``), ``p_value``, ``p_holm``, ``coverage_95`` (share of
            simulations whose truth lies in the central 95% interval), ``verdict``.
        """
        return self._uniformity.copy()

    @functools.cached_property
    def _uniformity(self) -> pd.DataFrame:
        """The uniformity table, computed once."""
        import arviz_stats  # noqa: F401  (registers the .azstats accessor)

        ranks = self.ranks
        rows = []
        for (model, quantity), g in ranks.groupby(["model", "quantity"], sort=False):
            da = xr.DataArray(g["pit"].to_numpy(), dims=["simulation"])
            p, _, _ = da.azstats.uniformity_test(dim=["simulation"], method="pot_c")
            rows.append({"model": model, "quantity": quantity,
                         "kind": g["kind"].iloc[0], "n": len(g), "test": "pot_c",
                         "p_value": float(p), "coverage_95": float(g["covered"].mean())})
        out = pd.DataFrame(rows, columns=["model", "quantity", "kind", "n", "test",
                                          "p_value", "coverage_95"])
        if out.empty:  # e.g. every simulation failed
            return out.assign(p_holm=[], verdict=[])
        out["p_holm"] = out.groupby("model")["p_value"].transform(
            lambda s: pd.Series(_holm(s.to_numpy()), index=s.index))
        out["verdict"] = np.where(out["p_holm"] < ALPHA, "fail", "pass")
        return out[["model", "quantity", "kind", "n", "test", "p_value", "p_holm",
                    "coverage_95", "verdict"]]

    def summary(self) -> pd.DataFrame:
        """One row per model: simulations, failed and divergent fits, worst test.

        Returns
        -------
        pandas.DataFrame
            ``model``, ``simulations``, ``failed`` (fits that raised), ``divergent``
            (fits with at least one divergent transition), ``max_rhat`` (largest over
            fits), ``median_seconds``, ``quantities``, ``worst_quantity``,
            ``min_p_holm``, ``verdict`` (``"fail"`` when any quantity fails, or when no
            quantity was ranked because every simulation failed).
        """
        fits = self.fits
        uni = self.uniformity()
        rows = []
        for model, f in fits.groupby("model", sort=False):
            u = uni[uni["model"] == model]
            worst = u.loc[u["p_holm"].idxmin()] if len(u) else None
            rows.append({
                "model": model, "simulations": len(f),
                "failed": int((f["error"] != "").sum()),
                "divergent": int((f["divergences"] > 0).sum()),
                "max_rhat": float(f["max_rhat"].max()),
                "median_seconds": float(f["seconds"].median()),
                "quantities": len(u),
                "worst_quantity": None if worst is None else worst["quantity"],
                "min_p_holm": np.nan if worst is None else float(worst["p_holm"]),
                # nothing ranked (every simulation failed) tests nothing: not a pass
                "verdict": "fail" if u.empty or (u["verdict"] == "fail").any() else "pass",
            })
        return pd.DataFrame(rows)

    def pit_tree(self, model: str) -> xr.DataTree:
        """The model's PIT values as the ``prior_sbc`` group ArviZ's plots expect.

        Parameters
        ----------
        model : str
            A model name of the run.

        Returns
        -------
        xarray.DataTree
            Group ``prior_sbc`` with one variable per quantity, dims
            ``(chain, draw)`` = ``(1, simulations)``.

        Raises
        ------
        KeyError
            ``model`` is not in the results.
        """
        ranks = self.ranks
        g = ranks[ranks["model"] == model]
        if g.empty:
            raise KeyError(f"no SBC results for model {model!r}; have "
                           f"{sorted(ranks['model'].unique())}")
        data = {}
        for quantity, q in g.groupby("quantity", sort=False):
            data[quantity] = (("chain", "draw"), q["pit"].to_numpy()[None, :])
        return xr.DataTree.from_dict({"prior_sbc": xr.Dataset(data)})

"""Exact data reduction of the one-stage IPD-MA likelihoods (bayes_hte.models.reduction).

Patients sharing covariates, arm and trial are pooled: a Binomial per cell (binary) or a
Poisson kernel per (cell, interval) (piecewise hazard). The checks: the model log density
differs from the per-patient one by a constant at random parameter points (binomial:
exactly minus the sum of log binomial coefficients; piecewise: zero), the automatic
choice, the per-patient log likelihood, and sampled posteriors that agree.
"""

from __future__ import annotations

import json

import arviz as az
import numpy as np
import pandas as pd
import pytest
from pytensor.compile.sharedvalue import SharedVariable
from pytensor.graph.traversal import graph_inputs
from scipy.special import gammaln

import bayes_hte as bh
from bayes_hte.data.reduction import covariate_cells, few_values, interval_cells
from bayes_hte.data.survival import exposure_matrix
from bayes_hte.inference import fit, pointwise_log_likelihood
from bayes_hte.models import ipdma, survival
from bayes_hte.models.reduction import per_unit_model, plan_reduction
from bayes_hte.options import IPDMAOptions

NUTPIE = dict(sampler="nutpie", random_seed=5)


def discrete_frame(n: int = 600, seed: int = 3, *, continuous: bool = False) -> pd.DataFrame:
    """3 trials, a binary and a 3-level covariate; event times on a coarse grid (ties)."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "trial": rng.choice(["A", "B", "C"], n),
        "treat": rng.binomial(1, 0.5, n),
        "sex": rng.binomial(1, 0.5, n),
        "age": rng.choice(["<50", "50-70", ">70"], n),
    })
    lp = (-0.8 + 0.5 * df["sex"] + 0.7 * (df["age"] == ">70") - 0.4 * df["treat"]
          + df["trial"].map({"A": -0.2, "B": 0.0, "C": 0.3}))
    df["y"] = rng.binomial(1, 1 / (1 + np.exp(-lp)))
    t = rng.exponential(1 / np.exp(lp + 1.0))
    df["time"] = np.minimum(np.ceil(t * 10) / 10, 1.5)  # ties, and events on cut points
    df["event"] = (t <= 1.5).astype(int)
    if continuous:
        df["bmi"] = rng.normal(25, 4, n)
    return df


@pytest.fixture(scope="module")
def binary():
    return bh.IPDData.from_frame(discrete_frame(), outcome="y", treatment="treat",
                                 study="trial", covariates=["sex", "age"])


@pytest.fixture(scope="module")
def tte():
    return bh.IPDData.from_frame(discrete_frame(), outcome="event", treatment="treat",
                                 study="trial", covariates=["sex", "age"], time="time")


def random_points(model, k: int = 4, seed: int = 0):
    rng = np.random.default_rng(seed)
    start = model.initial_point()
    return [{n: v + 0.5 * rng.normal(size=np.shape(v)) for n, v in start.items()}
            for _ in range(k)]


# --------------------------------------------------------------------------- data layer

def test_cells_group_identical_rows():
    X = np.array([[0.0, 1.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0], [-0.0, 1.0]])
    z = np.array([1, 1, 0, 0, 1])
    s = np.array([0, 0, 0, 0, 0])
    cells = covariate_cells(X, z, s)
    # patients 0, 1, 4 share (trial 0, treated, [0, 1]); -0.0 equals 0.0
    assert cells.n_cells == 3 and cells.n_units == 5
    assert cells.index[0] == cells.index[1] == cells.index[4]
    assert len({cells.index[0], cells.index[2], cells.index[3]}) == 3
    np.testing.assert_array_equal(cells.size[cells.index], [3, 3, 1, 1, 3])
    np.testing.assert_array_equal(cells.X[cells.index], X + 0.0)
    np.testing.assert_array_equal(cells.z[cells.index], z)
    np.testing.assert_allclose(cells.sum(np.array([1, 0, 1, 1, 1]))[cells.index[0]], 2)


def test_few_values_is_a_per_column_bound():
    X = np.column_stack([np.tile([0.0, 1.0], 50), np.arange(100.0)])
    assert few_values(X[:, :1], 2) and not few_values(X, 50) and few_values(X, 100)


def test_interval_cells_keep_every_event_and_exposure(tte):
    cells = covariate_cells(tte.X, tte.z, tte.study_idx)
    E, idx = exposure_matrix(tte.t, np.array([0.3, 0.6]))
    rows = interval_cells(cells, E, idx, tte.y)
    assert rows.events.sum() == tte.y.sum()
    np.testing.assert_allclose(rows.exposure.sum(), E.sum())
    # an event time on a cut point: its interval has no exposure from that patient
    assert np.any((tte.y == 1) & np.isin(np.round(tte.t, 6), [0.3, 0.6]))


# --------------------------------------------------------------------------- exact densities

@pytest.mark.parametrize("het,learner", [("random_intercept", "s"),
                                         ("stratified_intercept", "t"),
                                         ("rank1", "s"), ("fully_stratified", "t")])
def test_binomial_logp_differs_by_the_binomial_coefficients(binary, het, learner):
    """log p_patients(theta) - log p_cells(theta) = -sum_c log C(n_c, k_c) at every theta."""
    kw = dict(heterogeneity=het, learner=learner)
    full = ipdma.build_ipdma_model(binary, **kw)
    red = ipdma.build_ipdma_model(binary, data_reduction="always", **kw)
    assert red.bayes_hte["data_reduction"]["form"] == "binomial"
    assert [v.name for v in red.free_RVs] == [v.name for v in full.free_RVs]
    n = red["n_cell"].get_value()
    k = red["events_observed"].get_value()
    log_binom = float(np.sum(gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1)))
    f_full = full.compile_logp(mode="FAST_COMPILE")
    f_red = red.compile_logp(mode="FAST_COMPILE")
    diffs = [f_full(p) - f_red(p) for p in random_points(full)]
    np.testing.assert_allclose(diffs, -log_binom, rtol=0, atol=1e-8)


@pytest.mark.parametrize("learner", ["s", "t"])
def test_piecewise_poisson_logp_equals_the_patient_logp(tte, learner):
    """The Poisson kernel summed over (cell, interval) is the per-patient log likelihood."""
    kw = dict(heterogeneity="random_intercept", learner=learner, baseline="piecewise",
              n_intervals=4)
    full = survival.build_ipdma_survival_model(tte, **kw)
    red = survival.build_ipdma_survival_model(tte, data_reduction="auto", **kw)
    meta = red.bayes_hte["data_reduction"]
    assert meta["form"] == "poisson" and meta["rows"] < tte.n_patients
    f_full = full.compile_logp(mode="FAST_COMPILE")
    f_red = red.compile_logp(mode="FAST_COMPILE")
    diffs = [f_full(p) - f_red(p) for p in random_points(full)]
    np.testing.assert_allclose(diffs, 0.0, atol=1e-8)


# --------------------------------------------------------------------------- automatic choice

def test_auto_reduces_only_discrete_covariates(binary, tte):
    frame = discrete_frame(continuous=True)
    cont = bh.IPDData.from_frame(frame, outcome="y", treatment="treat", study="trial",
                                 covariates=["sex", "age", "bmi"])
    assert plan_reduction(binary, "auto") is not None
    assert plan_reduction(cont, "auto") is None          # every patient a cell of one
    assert plan_reduction(cont, "always") is not None     # still exact, just no gain
    assert plan_reduction(binary, "never") is None
    model = ipdma.build_ipdma_model(cont, data_reduction="auto")
    assert model.bayes_hte["data_reduction"]["form"] == "none"
    assert "y" in model.named_vars and "events" not in model.named_vars
    # the Weibull likelihood depends on each patient's time: never reduced
    assert plan_reduction(tte, "auto", baseline="weibull") is None
    assert plan_reduction(tte, "auto", baseline="piecewise") is not None
    with pytest.raises(ValueError, match="piecewise"):
        plan_reduction(tte, "always", baseline="weibull")
    with pytest.raises(ValueError, match="piecewise"):
        IPDMAOptions(outcome="time_to_event", data_reduction="always")
    with pytest.raises(ValueError, match="data_reduction"):
        bh.IPDMetaModel(data_reduction="sometimes")
    # the factories keep one term per patient unless asked
    assert ipdma.build_ipdma_model(binary).bayes_hte["data_reduction"]["form"] == "none"


def test_reduced_observed_data_are_named_containers(binary, tte):
    """Outcomes stay pm.Data (swapped by name, e.g. for simulation-based calibration)."""
    red = ipdma.build_ipdma_model(binary, data_reduction="auto")
    value = red.rvs_to_values[red["events"]]
    roots = [v.name for v in graph_inputs([value]) if isinstance(v, SharedVariable)]
    assert roots == ["events_observed"]
    assert red.named_vars_to_dims["events"] == ("cell",)
    assert int(red["n_cell"].get_value().sum()) == binary.n_patients
    assert int(red["events_observed"].get_value().sum()) == int(binary.y.sum())
    pw = survival.build_ipdma_survival_model(tte, baseline="piecewise", data_reduction="auto")
    assert {"events_observed", "exposure_observed"} <= {v.name for v in pw.data_vars}
    assert pw.named_vars_to_dims["events"] == ("cell_interval",)
    assert per_unit_model(pw).named_vars_to_dims["time"] == ("patient",)
    assert per_unit_model(ipdma.build_ipdma_model(binary)) is not None


# --------------------------------------------------------------------------- sampled fits

@pytest.fixture(scope="module")
def centred():
    return bh.IPDData.from_frame(discrete_frame(n=400), outcome="y", treatment="treat",
                                 study="trial", covariates=["sex", "age"], center="overall")


@pytest.fixture(scope="module")
def fits(centred):
    """SI-S reduced and per patient, 4 chains x 3000 draws each.

    Centred covariates and nutpie's low-rank mass matrix make the draws nearly
    independent (bulk ESS about 20,000 for every parameter, measured), so the
    difference of two posterior means has a Monte Carlo SD of about 0.01 posterior SD:
    a 0.05 SD tolerance is five of them. (The random-intercept model's tau_alpha, with
    3 trials, reaches only ~2,000 at this cost; the structures share the reduction,
    whose density is checked exactly above for RI, SI-T, R1 and FS-T.)
    """
    out = {}
    for form in ("auto", "never"):
        m = bh.IPDMetaModel(heterogeneity="stratified_intercept", data_reduction=form)
        out[form] = m.fit(centred, draws=3000, tune=1000, chains=4, mass_matrix="low_rank",
                          **NUTPIE)
    return out


def test_fit_records_the_form(fits, tmp_path):
    red = fits["auto"]
    meta = json.loads(red.idata["posterior"].attrs["bayes_hte_data_reduction"])
    assert meta["form"] == "binomial" and meta["cells"] < meta["patients"]
    assert json.loads(fits["never"].idata["posterior"].attrs[
        "bayes_hte_data_reduction"])["form"] == "none"
    assert "events_observed" in red.idata["constant_data"]
    # per-patient groups, as without the reduction
    assert red.idata["log_likelihood"]["y"].dims == ("chain", "draw", "patient")
    assert red.idata["posterior_predictive"]["y"].sizes["patient"] == red.data.n_patients
    back = bh.IPDMetaModel.load(red.save(tmp_path / "reduced.nc"))
    assert back.data_reduction == "auto"
    assert back.model.bayes_hte["data_reduction"]["form"] == "binomial"
    assert json.loads(back.idata["posterior"].attrs["bayes_hte_data_reduction"]) == meta


def test_reduced_posterior_matches_unreduced(fits):
    """Posterior means within 0.05 posterior SD (MC error ~0.01 SD at these ESS)."""
    names = ["alpha", "theta", "gamma", "eta", "alpha_study"]
    a, b = (fits[k].idata["posterior"] for k in ("auto", "never"))
    for name in names:
        sd = b[name].std(("chain", "draw"))
        diff = abs(a[name].mean(("chain", "draw")) - b[name].mean(("chain", "draw")))
        assert float((diff / sd).max()) < 0.05, name
        # posterior SDs: MC error of an SD estimate ~ 1/sqrt(2 ESS) ~ 0.5%, with tails more
        np.testing.assert_allclose(a[name].std(("chain", "draw")), sd, rtol=0.1)
    for form in ("auto", "never"):
        ess = az.ess(fits[form].idata, var_names=names)
        assert min(float(ess[v].min()) for v in ess.data_vars) > 8000


def test_loo_per_patient_matches_unreduced(fits, centred):
    red, full = fits["auto"], fits["never"]
    # exact: the per-patient log likelihood of the reduced model is that of the
    # per-patient model at the same draws
    model_full = ipdma.build_ipdma_model(centred, heterogeneity="stratified_intercept")
    sub = red.idata.isel(draw=slice(0, 50))
    np.testing.assert_allclose(
        pointwise_log_likelihood(sub, red.model)["y"].values,
        pointwise_log_likelihood(sub, model_full)["y"].values, rtol=1e-12, atol=1e-12)
    # within Monte Carlo error: PSIS-LOO of the two fits, patient by patient
    la = az.loo(red.idata, pointwise=True)
    lb = az.loo(full.idata, pointwise=True)
    np.testing.assert_allclose(la.elpd_i.values, lb.elpd_i.values, atol=0.01)
    assert abs(la.elpd - lb.elpd) < 0.5


def test_estimands_from_the_reduced_fit(fits):
    red, full = fits["auto"], fits["never"]
    ite_a = red.ite().mean(("chain", "draw")).values
    ite_b = full.ite().mean(("chain", "draw")).values
    assert ite_a.shape == (red.data.n_patients,)
    np.testing.assert_allclose(ite_a, ite_b, atol=0.01)
    cate = red.cate("age")
    assert cate.sizes["age"] == 3


def test_piecewise_fit_reduced(tte):
    m = bh.IPDMetaModel(outcome="time_to_event", heterogeneity="random_intercept",
                        baseline="piecewise", n_intervals=4)
    m.fit(tte, draws=200, tune=300, chains=2, **NUTPIE)
    assert bh.inference.divergences(m.idata) == 0
    assert json.loads(m.idata["posterior"].attrs["bayes_hte_data_reduction"])["form"] == \
        "poisson"
    ll = m.idata["log_likelihood"]["time"]
    assert ll.dims == ("chain", "draw", "patient") and ll.sizes["patient"] == tte.n_patients
    full = survival.build_ipdma_survival_model(
        tte, heterogeneity="random_intercept", baseline="piecewise", n_intervals=4)
    sub = m.idata.isel(draw=slice(0, 20))
    np.testing.assert_allclose(ll.isel(draw=slice(0, 20)).values,
                               pointwise_log_likelihood(sub, full)["time"].values,
                               rtol=1e-12, atol=1e-12)
    assert m.ite().sizes["patient"] == tte.n_patients
    assert np.all(np.isfinite(m.hazard_ratio().values))


def test_direct_fit_of_a_reduced_model(binary):
    """inference.fit on a reduced factory model: per-patient groups, reduced data groups."""
    model = ipdma.build_ipdma_model(binary, heterogeneity="naive", data_reduction="auto")
    idata = fit(model, draws=30, tune=50, chains=1, **NUTPIE)
    assert idata["log_likelihood"]["y"].sizes["patient"] == binary.n_patients
    assert idata["posterior_predictive"]["y"].sizes["patient"] == binary.n_patients
    assert "events" in idata["observed_data"]

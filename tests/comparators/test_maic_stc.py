"""MAIC and STC (NICE DSU TSD 18): weights against hand computations, balance, agreement
with the IPD's own effect, marginal vs conditional effects, errors, and the study methods."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats
from scipy.special import expit

import bayes_hte as bh
from bayes_hte import DataError
from bayes_hte.comparators.outcome_regression import logistic_regression
from bayes_hte.comparators.weighting import maic_moments, maic_weights
from bayes_hte.studies.comparator_methods import fit_maic, fit_stc


# =========================================================================== helpers
def _summary(rows: dict, trial: str | None = None, **kw) -> bh.CovariateSummary:
    """{covariate: (mean, sd or None)} -> CovariateSummary (one population or one trial)."""
    frame = pd.DataFrame({"covariate": list(rows), "mean": [v[0] for v in rows.values()],
                          "sd": [np.nan if v[1] is None else v[1] for v in rows.values()]})
    if trial is not None:
        frame.insert(0, "trial", trial)
    return bh.CovariateSummary.from_frame(frame, **kw)


def _arms(label: str = "AgD", counts=(40, 160, 50, 150)) -> bh.ArmTable:
    n11, n10, n01, n00 = counts
    return bh.ArmTable.from_frame(pd.DataFrame({"study": [label], "n11": [n11], "n10": [n10],
                                                "n01": [n01], "n00": [n00]}))


def _simulate(n: int, seed: int, *, trials: int = 1, x1_mean: float = 0.0,
              p2: float = 0.4) -> pd.DataFrame:
    """Patients with x1 ~ N(x1_mean, 1), x2 ~ Bernoulli(p2), 1:1 treatment and a logistic
    outcome with effect modification by both covariates."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(x1_mean, 1.0, n)
    x2 = rng.binomial(1, p2, n)
    z = rng.integers(0, 2, n)
    trial = rng.integers(0, trials, n)
    eta = -1 + 0.3 * trial + 0.8 * x1 + 0.5 * x2 + z * (-0.5 + 0.6 * x1 - 0.4 * x2)
    y = rng.binomial(1, expit(eta))
    return pd.DataFrame({"trial": [f"T{t + 1}" for t in trial], "x1": x1, "x2": x2,
                         "z": z, "y": y})


def _ipd(frame: pd.DataFrame, covariates=("x1", "x2"), *, study: str | None = None,
         **kw) -> bh.IPDData:
    return bh.IPDData.from_frame(frame, outcome="y", treatment="z", study=study,
                                 covariates=list(covariates), **kw)


# =========================================================================== (1) weights
def test_weights_one_binary_covariate_closed_form():
    # 6 patients, x = 1 for two of them; target proportion p = 0.5.
    # w_i = exp(a (x_i - p)); the moment condition 2 w1 (1 - p) = 4 w0 p gives
    # exp(a) = w1 / w0 = n0 p / (n1 (1 - p)) = 4 * 0.5 / (2 * 0.5) = 2, so a = log 2,
    # w(x=1) = exp(a (1 - p)) = sqrt(2), w(x=0) = exp(-a p) = 1 / sqrt(2), and
    # ESS = (2 sqrt2 + 4 / sqrt2)^2 / (2 * 2 + 4 / 2) = 32 / 6 = 16 / 3.
    frame = pd.DataFrame({"x": [1, 1, 0, 0, 0, 0], "z": [1, 0, 1, 0, 1, 0],
                          "y": [1, 0, 0, 1, 1, 0]})
    ipd = _ipd(frame, ["x"])
    res = bh.comparators.maic(ipd, None, _summary({"x": (0.5, None)}))
    s2 = np.sqrt(2.0)
    np.testing.assert_allclose(res.coef["x"], np.log(2.0), rtol=1e-9)
    np.testing.assert_allclose(res.weights, [s2, s2, 1 / s2, 1 / s2, 1 / s2, 1 / s2],
                               rtol=1e-9)
    assert res.ess == pytest.approx(16 / 3, rel=1e-9)
    np.testing.assert_allclose(res.rescaled_weights.sum(), 6.0)
    # treated: (x, y) = (1, 1), (0, 0), (0, 1) -> (sqrt2 + 1/sqrt2) / (sqrt2 + 2/sqrt2) = 3/4
    # control: (1, 0), (0, 1), (0, 0)          -> (1/sqrt2) / (sqrt2 + 2/sqrt2)          = 1/4
    assert res.psi1 == pytest.approx(0.75) and res.psi0 == pytest.approx(0.25)
    assert res.estimate == pytest.approx(0.5)
    assert res.balance.loc["x", "weighted"] == pytest.approx(0.5, abs=1e-12)
    # a general target proportion: exp(a) = 4 p / (2 (1 - p))
    for p in (0.1, 0.7):
        res = bh.comparators.maic(ipd, None, _summary({"x": (p, None)}))
        assert np.exp(res.coef["x"]) == pytest.approx(2 * p / (1 - p), rel=1e-8)


def _root_solve(M: np.ndarray) -> np.ndarray:
    """The moment equations sum_i exp(m_i'a) m_i = 0 solved by scipy's root finder."""
    sol = optimize.root(lambda a: M.T @ np.exp(M @ a), np.zeros(M.shape[1]), tol=1e-13)
    assert np.max(np.abs(M.T @ np.exp(M @ sol.x))) < 1e-10 * len(M)
    return sol.x


@pytest.mark.parametrize("match_sd", [False, True])
def test_weights_two_covariates_match_an_independent_root_solve(match_sd):
    frame = _simulate(60, seed=3)
    ipd = _ipd(frame)
    cov = _summary({"x1": (0.3, 0.8), "x2": (0.55, None)})
    res = bh.comparators.maic(ipd, None, cov, match_sd=match_sd)
    X = frame[["x1", "x2"]].to_numpy(float)
    M = np.column_stack([X[:, 0] - 0.3, X[:, 1] - 0.55])
    if match_sd:
        M = np.column_stack([M, (X[:, 0] - 0.3) ** 2 - 0.8**2])
    a = _root_solve(M)
    np.testing.assert_allclose(res.coef.to_numpy(), a, rtol=1e-7, atol=1e-9)
    w = np.exp(M @ a)
    np.testing.assert_allclose(res.weights, w, rtol=1e-7)
    assert res.ess == pytest.approx(w.sum() ** 2 / (w**2).sum(), rel=1e-9)
    assert list(res.coef.index) == (["x1", "x2", "x1^2"] if match_sd else ["x1", "x2"])
    # the numpy core gives the same weights
    core = maic_weights(maic_moments(X, [0.3, 0.55], sds=[0.8 if match_sd else np.nan,
                                                          np.nan]))
    assert core["converged"]
    np.testing.assert_allclose(core["weights"], w, rtol=1e-7)


# =========================================================================== (2) balance
def test_weighted_means_and_sds_equal_the_targets():
    frame = _simulate(500, seed=4, trials=3)
    ipd = _ipd(frame, study="trial", center="overall")  # centring is undone inside
    cov = _summary({"x1": (0.4, 0.9), "x2": (0.6, None)}, trial="AgD")
    res = bh.comparators.maic(ipd, _arms(), cov, match_sd=True)
    bal = res.balance
    np.testing.assert_allclose(bal["weighted"], [0.4, 0.6], atol=1e-8)
    np.testing.assert_allclose(bal["target"], [0.4, 0.6])
    np.testing.assert_allclose(bal.loc["x1", "weighted_sd"], 0.9, atol=1e-8)
    assert np.isnan(bal.loc["x2", "weighted_sd"])
    # the same by hand from the weights and the raw columns
    w = res.weights / res.weights.sum()
    np.testing.assert_allclose(w @ frame[["x1", "x2"]].to_numpy(float), [0.4, 0.6],
                               atol=1e-8)
    assert 0 < res.ess < len(frame)
    # weights estimated across the pooled IPD: the trials' shares are weight shares
    tab = res.weight_table()
    share = tab.groupby("study")["weight"].sum() / tab["weight"].sum()
    np.testing.assert_allclose(res.trial_share.loc[share.index], share)


def test_several_ipd_trials_compare_arms_within_trials():
    frame = _simulate(600, seed=5, trials=2)
    res = bh.comparators.maic(_ipd(frame, study="trial"), None,
                              _summary({"x1": (0.3, 1.0), "x2": (0.5, None)}))
    w = res.weights
    d = frame.assign(w=w)
    risk = d.groupby(["trial", "z"]).apply(lambda g: np.average(g["y"], weights=g["w"]),
                                           include_groups=False).unstack("z")
    share = d.groupby("trial")["w"].sum() / d["w"].sum()
    psi1, psi0 = share @ risk[1], share @ risk[0]
    assert res.psi1 == pytest.approx(psi1) and res.psi0 == pytest.approx(psi0)
    assert res.estimate == pytest.approx(psi1 - psi0)


def test_uncentred_and_centred_ipd_give_the_same_result():
    frame = _simulate(300, seed=6)
    cov = _summary({"x1": (0.3, 1.1), "x2": (0.5, None)})
    a = bh.comparators.maic(_ipd(frame), None, cov, match_sd=True)
    b = bh.comparators.maic(_ipd(frame, center="overall"), None, cov, match_sd=True)
    assert a.estimate == pytest.approx(b.estimate, rel=1e-10)
    s1 = bh.comparators.stc(_ipd(frame), None, cov)
    s2 = bh.comparators.stc(_ipd(frame, center="overall"), None, cov)
    assert s1.estimate == pytest.approx(s2.estimate, rel=1e-8)


# =========================================================================== SEs
def _stacked_equations(theta, X, y, z, trial, J):
    """The MAIC estimating equations per patient, written out directly (no shortcuts):
    a (K), trial-arm risks p[j, z] (2J, ordered j then z), mixed risks (psi0, psi1)."""
    K = X.shape[1]
    a, pjz, psi = theta[:K], theta[K:K + 2 * J].reshape(J, 2), theta[K + 2 * J:]
    w = np.exp(X @ a)
    cols = [X[:, k] * w for k in range(K)]
    for j in range(J):
        for arm in (0, 1):
            cols.append((trial == j) * (z == arm) * w * (y - pjz[j, arm]))
    for arm in (0, 1):
        cols.append(w * (pjz[trial, arm] - psi[arm]))
    return np.column_stack(cols)


def test_sandwich_equals_a_numerical_m_estimation_sandwich():
    frame = _simulate(400, seed=7, trials=2)
    ipd = _ipd(frame, study="trial")
    cov = _summary({"x1": (0.5, 1.0), "x2": (0.3, None)})
    res = bh.comparators.maic(ipd, None, cov, measure="OR")
    X = frame[["x1", "x2"]].to_numpy(float) - [0.5, 0.3]
    y, z, trial = frame["y"].to_numpy(float), frame["z"].to_numpy(), ipd.study_idx
    w = res.weights
    pjz = np.array([[np.average(y[(trial == j) & (z == a)], weights=w[(trial == j) & (z == a)])
                     for a in (0, 1)] for j in range(2)])
    theta = np.r_[res.coef.to_numpy(), pjz.ravel(), res.psi0, res.psi1]
    psi_i = _stacked_equations(theta, X, y, z, trial, 2)
    np.testing.assert_allclose(psi_i.sum(axis=0) / w.sum(), 0, atol=1e-8)
    h = 1e-6
    A = np.column_stack([(_stacked_equations(theta + h * e, X, y, z, trial, 2).sum(0)
                          - _stacked_equations(theta - h * e, X, y, z, trial, 2).sum(0))
                         / (2 * h) for e in np.eye(theta.size)])
    Ainv = np.linalg.inv(A)
    V = Ainv @ (psi_i.T @ psi_i) @ Ainv.T
    p1, p0 = res.psi1, res.psi0
    g = np.zeros(theta.size)
    g[-1], g[-2] = 1 / (p1 * (1 - p1)), -1 / (p0 * (1 - p0))
    assert res.log_se == pytest.approx(np.sqrt(g @ V @ g), rel=1e-5)
    # the natural-scale vocabulary: exp of the log-scale Wald interval, delta SE
    c = stats.norm.ppf(0.975)
    assert res.estimate == pytest.approx(p1 / (1 - p1) / (p0 / (1 - p0)))
    np.testing.assert_allclose(res.ci, np.exp(np.log(res.estimate) + np.array([-c, c])
                                              * res.log_se))
    assert res.se == pytest.approx(res.estimate * res.log_se)


def test_bootstrap_se_agrees_with_the_sandwich_and_is_seeded():
    frame = _simulate(800, seed=8)
    ipd = _ipd(frame)
    cov = _summary({"x1": (0.3, 1.0), "x2": (0.5, None)})
    sand = bh.comparators.maic(ipd, None, cov)
    boot = bh.comparators.maic(ipd, None, cov, variance="bootstrap", n_boot=300, seed=2)
    again = bh.comparators.maic(ipd, None, cov, variance="bootstrap", n_boot=300, seed=2)
    assert boot.estimate == sand.estimate
    assert boot.se == pytest.approx(sand.se, rel=0.2)
    assert boot.se == again.se and boot.n_boot == 300 and boot.n_failed == 0
    assert boot.ci_low < boot.estimate < boot.ci_high


def test_logistic_regression_matches_statsmodels():
    sm = pytest.importorskip("statsmodels.api")
    frame = _simulate(500, seed=9)
    X = np.column_stack([np.ones(500), frame[["x1", "x2", "z"]].to_numpy(float),
                         frame["z"] * frame["x1"]])
    fit = logistic_regression(X, frame["y"])
    ref = sm.GLM(frame["y"].to_numpy(float), X, family=sm.families.Binomial()).fit(tol=1e-12)
    assert fit["converged"]
    np.testing.assert_allclose(fit["beta"], ref.params, rtol=1e-7)
    np.testing.assert_allclose(np.sqrt(np.diag(fit["vcov"])), ref.bse, rtol=1e-6)


def test_stc_delta_se_agrees_with_parametric_draws():
    frame = _simulate(800, seed=10)
    ipd = _ipd(frame)
    cov = _summary({"x1": (0.4, 0.9), "x2": (0.6, None)})
    for measure in ("RD", "OR"):
        delta = bh.comparators.stc(ipd, None, cov, measure=measure, n_points=1024, seed=3)
        draws = bh.comparators.stc(ipd, None, cov, measure=measure, n_points=1024,
                                   variance="draws", n_draws=2000, seed=3)
        assert draws.estimate == delta.estimate
        assert draws.log_se == pytest.approx(delta.log_se, rel=0.08)
        assert draws.n_draws == 2000


# =========================================================================== (3) same population
def test_summaries_of_the_ipd_itself_leave_its_effect_unchanged():
    frame = _simulate(3000, seed=11)
    ipd = _ipd(frame)
    own = _summary({"x1": (frame["x1"].mean(), frame["x1"].std(ddof=0)),
                    "x2": (frame["x2"].mean(), None)})
    raw = (frame.loc[frame.z == 1, "y"].mean() - frame.loc[frame.z == 0, "y"].mean())
    res = bh.comparators.maic(ipd, None, own, match_sd=True)
    np.testing.assert_allclose(res.coef, 0, atol=1e-7)           # a = 0: equal weights
    assert res.ess == pytest.approx(3000, rel=1e-9)
    assert res.estimate == pytest.approx(raw, abs=1e-9)
    # STC integrates the model over a copula of the IPD's own summaries: the g-formula
    # over the IPD patients themselves up to the copula's normal/Bernoulli approximation
    s = bh.comparators.stc(ipd, None, own)
    b = s.coef["estimate"].to_numpy()
    X = frame[["x1", "x2"]].to_numpy(float)
    design = lambda arm: np.column_stack([np.ones(3000), X, np.full(3000, arm),  # noqa: E731
                                          arm * X])
    gcomp = expit(design(1) @ b).mean() - expit(design(0) @ b).mean()
    assert s.estimate == pytest.approx(gcomp, abs=0.003)
    assert abs(s.estimate - raw) < 0.2 * s.se


def test_population_drawn_like_the_ipd_gives_the_ipd_effect():
    ipd_frame = _simulate(3000, seed=12)
    agd = _simulate(3000, seed=13)            # same population, other patients
    cov = _summary({"x1": (agd["x1"].mean(), agd["x1"].std()), "x2": (agd["x2"].mean(), None)},
                   trial="AgD")
    counts = (int(agd.y[agd.z == 1].sum()), int((1 - agd.y[agd.z == 1]).sum()),
              int(agd.y[agd.z == 0].sum()), int((1 - agd.y[agd.z == 0]).sum()))
    ipd = _ipd(ipd_frame)
    raw = ipd_frame.loc[ipd_frame.z == 1, "y"].mean() - ipd_frame.loc[ipd_frame.z == 0, "y"].mean()
    for fn in (bh.comparators.maic, bh.comparators.stc):
        res = fn(ipd, _arms(counts=counts), cov)
        assert abs(res.estimate - raw) < res.se, fn.__name__
        # the aggregate trial's own effect agrees too (same population)
        assert abs(res.difference["z"]) < 2
        assert res.observed["estimate"] == pytest.approx(
            counts[0] / (counts[0] + counts[1]) - counts[2] / (counts[2] + counts[3]))


# ======================================================== (4) marginal vs conditional
# logit P(y) = -0.5 + 2 x + z * gamma, x ~ N(0, 1) in the IPD and N(0.5, 1.2^2) in the
# target; no effect modification, so the conditional log OR is gamma = -1 everywhere, but
# the marginal log OR in the target is attenuated towards 0 (non-collapsibility).
GAMMA = -1.0


def _marginal_log_or_truth(mean: float, sd: float) -> float:
    """Marginal log OR of the model in N(mean, sd^2) by Gauss–Hermite quadrature (100 nodes)."""
    t, wq = np.polynomial.hermite_e.hermegauss(100)
    x, wq = mean + sd * t, wq / wq.sum()
    p1, p0 = wq @ expit(-0.5 + 2 * x + GAMMA), wq @ expit(-0.5 + 2 * x)
    return float(np.log(p1 / (1 - p1)) - np.log(p0 / (1 - p0)))


def _noncollapsible_ipd(n: int, seed: int) -> bh.IPDData:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    z = rng.integers(0, 2, n)
    y = rng.binomial(1, expit(-0.5 + 2 * x + GAMMA * z))
    return _ipd(pd.DataFrame({"x": x, "z": z, "y": y}), ["x"])


def test_stc_estimates_the_marginal_not_the_conditional_odds_ratio():
    truth = _marginal_log_or_truth(0.5, 1.2)
    assert truth - GAMMA > 0.3                   # the two estimands differ clearly
    target = _summary({"x": (0.5, 1.2)})
    est, plug = [], []
    for r in range(40):
        res = bh.comparators.stc(_noncollapsible_ipd(1500, 100 + r), None, target,
                                 measure="OR", effect_modifiers=[], n_points=1024)
        est.append(np.log(res.estimate))
        plug.append(np.log(res.conditional["estimate"]))
    est, plug = np.array(est), np.array(plug)
    mcse = est.std(ddof=1) / np.sqrt(est.size)
    assert abs(est.mean() - truth) < 3 * mcse            # marginal: unbiased for the truth
    assert abs(plug.mean() - GAMMA) < 3 * plug.std(ddof=1) / np.sqrt(plug.size)
    assert plug.mean() - truth < -8 * mcse                # plug-in at means: conditional
    # with one large IPD: STC and MAIC (a marginal method too) cover the marginal truth
    ipd = _noncollapsible_ipd(6000, 1)
    for fn in (bh.comparators.stc, bh.comparators.maic):
        res = fn(ipd, None, target, measure="OR")
        assert abs(np.log(res.estimate) - truth) < 2.5 * res.log_se, fn.__name__


# =========================================================================== (5) errors
@pytest.fixture(scope="module")
def setting():
    frame = _simulate(300, seed=14)
    return frame, _ipd(frame)


@pytest.mark.parametrize("fn", ["maic", "stc"])
def test_bad_inputs_raise_data_errors_naming_the_culprit(setting, fn):
    frame, ipd = setting
    f = getattr(bh.comparators, fn)
    good = _summary({"x1": (0.3, 1.0), "x2": (0.5, None)}, trial="AgD")
    arms = _arms()
    with pytest.raises(DataError, match="'x9'.*not an IPD covariate"):
        f(ipd, arms, _summary({"x1": (0.3, 1.0), "x9": (0.5, None)}, trial="AgD"))
    with pytest.raises(DataError, match="'x1' is binary in the summaries.*not 0/1"):
        f(ipd, arms, _summary({"x1": (0.3, None), "x2": (0.5, None)}, trial="AgD"))
    with pytest.raises(DataError, match="'x2' is binary .* in the IPD.*SD"):
        f(ipd, arms, _summary({"x1": (0.3, 1.0), "x2": (0.5, 0.5)}, trial="AgD"))
    with pytest.raises(DataError, match="aggregate trial 'Z' is not in the ArmTable"):
        f(ipd, arms, good, trial="Z")
    two = bh.ArmTable.from_frame(pd.DataFrame({"study": ["A", "B"], "n11": [5, 6],
                                               "n10": [5, 6], "n01": [5, 6], "n00": [5, 6]}))
    with pytest.raises(DataError, match=r"several trials \['A', 'B'\].*trial="):
        f(ipd, two, good)
    with pytest.raises(DataError, match="no rows for aggregate trial 'A'"):
        f(ipd, two, good, trial="A")
    with pytest.raises(DataError, match="covariate 'x3' has no summary row for aggregate "
                                        "trial 'AgD'"):
        f(ipd, arms, good, covariates=["x1", "x3"])
    with pytest.raises(DataError, match="lists 'x1' twice"):
        f(ipd, arms, good, covariates=["x1", "x1"])
    with pytest.raises(DataError, match="IPDData"):
        f(frame, arms, good)
    with pytest.raises(DataError, match="CovariateSummary"):
        f(ipd, arms, good.frame)
    with pytest.raises(DataError, match="measure"):
        f(ipd, arms, good, measure="HR")
    with pytest.raises(DataError, match="ci_prob"):
        f(ipd, arms, good, ci_prob=95)
    with pytest.raises(DataError, match="variance"):
        f(ipd, arms, good, variance="jackknife")
    tte = frame.assign(t=1.0 + np.arange(len(frame)) % 7)
    with pytest.raises(DataError, match="binary outcome"):
        f(bh.IPDData.from_frame(tte, outcome="y", treatment="z", time="t",
                                covariates=["x1", "x2"]), arms, good)


def test_maic_overlap_errors_name_the_covariate(setting):
    frame, ipd = setting
    with pytest.raises(DataError, match="covariate 'x1' .* outside the range of the IPD"):
        bh.comparators.maic(ipd, None, _summary({"x1": (9.0, 1.0), "x2": (0.5, None)}))
    with pytest.raises(DataError, match="SD of covariate 'x1'.*match_sd=False"):
        bh.comparators.maic(ipd, None, _summary({"x1": (0.0, 50.0), "x2": (0.5, None)}),
                            match_sd=True)
    # each target inside its covariate's range, jointly outside the hull: x2 == x3
    both = frame.assign(x3=frame["x2"])
    with pytest.raises(DataError, match=r"convex hull.*moment 'x[23]'"):
        bh.comparators.maic(_ipd(both, ["x1", "x2", "x3"], allow_constant_covariates=True),
                            None, _summary({"x2": (0.3, None), "x3": (0.6, None)}))
    with pytest.raises(DataError, match="n_boot"):
        bh.comparators.maic(ipd, None, _summary({"x1": (0.1, 1.0)}), variance="bootstrap",
                            n_boot=10)


def test_stc_errors_name_the_effect_modifier_and_trial(setting):
    frame, ipd = setting
    good = _summary({"x1": (0.3, 1.0), "x2": (0.5, None)})
    with pytest.raises(DataError, match="effect modifier 'x3' is not among the covariates"):
        bh.comparators.stc(ipd, None, good, effect_modifiers=["x3"])
    with pytest.raises(DataError, match="effect modifier 'x2'"):
        bh.comparators.stc(ipd, None, good, covariates=["x1"], effect_modifiers=["x2"])
    quiet = pd.concat([frame, frame.assign(trial="T9", y=0)])
    with pytest.raises(DataError, match="IPD trial 'T9' has no events"):
        bh.comparators.stc(_ipd(quiet, study="trial"), None, good)
    sep = frame.assign(y=(frame["x1"] > 0).astype(int))   # x1 predicts y perfectly
    with pytest.raises(DataError, match="did not converge"):
        bh.comparators.stc(_ipd(sep), None, good)
    for name in ("n_points", "n_draws"):
        with pytest.raises(DataError, match=name):
            bh.comparators.stc(ipd, None, good, **{name: 1})


def test_undefined_ratio_is_a_data_error():
    frame = pd.DataFrame({"x": [0.1, 0.5, 0.9, 0.2, 0.4, 0.8], "z": [1, 1, 1, 0, 0, 0],
                          "y": [0, 0, 0, 1, 0, 1]})
    with pytest.raises(DataError, match="risk ratio is undefined"):
        bh.comparators.maic(_ipd(frame, ["x"]), None, _summary({"x": (0.5, 0.3)}),
                            measure="RR")


# =========================================================================== vocabulary
def test_summary_and_printouts():
    frame = _simulate(400, seed=15, trials=2)
    ipd = _ipd(frame, study="trial")
    cov = _summary({"x1": (0.3, 0.9), "x2": (0.6, None)}, trial="AgD")
    m = bh.comparators.maic(ipd, _arms(), cov, measure="RR", match_sd=True)
    s = bh.comparators.stc(ipd, _arms(), cov, measure="RR", effect_modifiers=["x1"])
    tab = m.summary()
    assert list(tab.index) == ["MAIC (trial AgD)", "observed (trial AgD)",
                               "adjusted vs observed"]
    assert {"estimate", "se", "log_se", "ci_low", "ci_high", "z", "p", "ess"} <= set(tab)
    assert tab.attrs["ci_prob"] == 0.95 and tab.attrs["measure"] == "RR"
    assert tab.loc["adjusted vs observed", "estimate"] == pytest.approx(
        m.estimate / m.observed["estimate"])
    assert list(s.to_frame().index)[1] == "plug-in at the means (conditional)"
    assert list(s.coef.index) == ["(Intercept: T1)", "(Intercept: T2)", "x1", "x2",
                                  "treatment", "treatment:x1"]
    text = str(m)
    assert text.startswith("Matching-Adjusted Indirect Comparison (MAIC; IPD: 2 trials")
    assert f"Effective sample size {m.ess:.1f}" in text and "Covariate balance" in text
    assert f"{m.estimate:.4f}" in text and f"{m.ci_low:.4f}" in text
    text = str(s)
    assert text.startswith("Simulated Treatment Comparison (STC")
    assert "interactions with: x1" in text and "plug-in at means" in text
    assert repr(s) == text
    # lower ci_prob, narrower interval
    narrow = bh.comparators.maic(ipd, _arms(), cov, measure="RR", ci_prob=0.5)
    assert narrow.ci_high - narrow.ci_low < m.ci_high - m.ci_low


# =========================================================================== study methods
def test_study_methods_estimate_the_effect_in_the_target():
    frame = _simulate(500, seed=16, trials=2)
    ipd = _ipd(frame, study="trial")
    target = _summary({"x1": (0.5, 0.9), "x2": (0.3, None)})
    data = SimpleNamespace(ipd=ipd, aggregate=_arms(),
                           aggregate_covariates=_summary({"x1": (-0.2, 1.0),
                                                          "x2": (0.7, None)}, trial="AgD"),
                           target=target)
    out = fit_maic(data, measure=["RD", "OR"], match_sd=True)
    assert set(out) == {"RD", "OR"}
    direct = bh.comparators.maic(ipd, None, target, measure="OR", match_sd=True)
    assert out["OR"] == {"estimate": direct.estimate, "se": direct.se,
                         "ci_low": direct.ci_low, "ci_high": direct.ci_high}
    assert out["OR"]["estimate"] > 0                       # natural scale
    out = fit_stc(data, n_points=512)
    assert set(out) == {"RD"} and set(out["RD"]) == {"estimate", "se", "ci_low", "ci_high"}
    direct = bh.comparators.stc(ipd, None, target, n_points=512)
    assert out["RD"]["estimate"] == direct.estimate
    with pytest.raises(TypeError, match="IPDAggregateData"):
        fit_maic(ipd)
    with pytest.raises(ValueError, match="measure"):
        fit_stc(data, measure="HR")

"""The issue-13 f coverage study and the Figure-2 study of Berenfeld et al. (2026) as specs.

``models/studies/subgroup_ite_coverage.toml`` (simulator ``tzimas2024`` with its
``design`` factor; kinds ``subgroup`` with the interval checks and ``s_learner``) and
``models/studies/berenfeld2026_figure2.toml`` (kinds ``meta_analysis`` and
``causal_meta_analysis`` on ``berenfeld2026_counts``): the new design option and truth,
the new metrics against hand computations, both specs run shrunk end to end and the docs
blocks of ``validation/study_tables.py`` made from their stores.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, logit

from bayes_hte import simulate
from bayes_hte.comparators.causal import causal_core
from bayes_hte.comparators.univariate import meta_analysis
from bayes_hte.data.escalc import effect_sizes
from bayes_hte.errors import DataError
from bayes_hte.estimators import IPDMetaModel, SubgroupHTEModel
from bayes_hte.simulate.tzimas2024 import tzimas2024
from bayes_hte.spec import run_study_spec
from bayes_hte.studies import Study, ipd_methods, load, trial_methods
from bayes_hte.studies import methods as M
from bayes_hte.studies import simulators as S
from tests._helpers import validation_script
from tests.studies._specs import SPECS, edited_spec

ROOT = Path(__file__).resolve().parents[2]
COVARIATES = ["age", "anticoagulant", "diabetes", "prior_bleeding", "sbp", "bmi"]
#: Tiny single-chain PyMC fits.
TINY = {"draws": 30, "tune": 30, "chains": 1, "sampler": "pymc"}


def _tables():
    return validation_script("study_tables")


def _docs_header(doc: str, marker: str) -> str:
    """The first table row (the column names) of a block of a docs page."""
    text = (ROOT / "docs" / doc).read_text()
    block = text[text.index(f"<!-- {marker}:start -->"):text.index(f"<!-- {marker}:end -->")]
    return next(line for line in block.splitlines() if line.startswith("| "))


# ----------------------------------------------------------------------------- designs
def test_threshold_design_is_the_published_draw():
    ours = S._tzimas(n=300, seed=np.random.default_rng(5)).data
    pd.testing.assert_frame_equal(ours, tzimas2024(n=300, seed=np.random.default_rng(5)).data)
    assert S._tzimas_truth(design="threshold") == S._tzimas_truth()
    # the generate of a spec takes the design as a scenario factor
    gen = M.make_generate("tzimas2024", params={"n": 300}, factors=["design"])
    data = gen(np.random.default_rng(5), design="threshold")
    np.testing.assert_array_equal(data.true_effects["true_te"], ours["true_te"])


def test_strong_and_linear_designs_by_hand():
    strong = S._tzimas(n=300, design="threshold_strong", seed=np.random.default_rng(2))
    ref = tzimas2024(n=300, effect={"bmi_over_30": -1.0}, seed=np.random.default_rng(2))
    pd.testing.assert_frame_equal(strong.data, ref.data)
    # linear: the draw without the step, TE + (-0.04)(BMI - 28), events redrawn from the
    # rest of the same generator
    rng = np.random.default_rng(9)
    flat = tzimas2024(n=300, effect={"bmi_over_30": 0.0}, seed=rng).data
    te = flat["true_te"] - 0.04 * (flat["bmi"] - 28.0)
    p1 = expit(logit(flat["p0"]) + te)
    event = rng.binomial(1, np.where(flat["treatment"] == 1, p1, flat["p0"]))
    lin = S._tzimas(n=300, design="linear", seed=np.random.default_rng(9))
    np.testing.assert_allclose(lin.data["true_te"], te, rtol=0, atol=1e-12)
    np.testing.assert_allclose(lin.data["true_cate"], p1 - flat["p0"], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(lin.data["event"], event)
    cols = ["age", "bmi", "treatment", "p0"]
    pd.testing.assert_frame_equal(lin.data[cols], flat[cols])
    assert lin.truth["design"] == "linear" and lin.truth["bmi_slope"] == -0.04


@pytest.mark.parametrize("design", ["threshold_strong", "linear"])
def test_design_truth_against_a_large_draw(design):
    truth = S._tzimas_truth(design=design)
    d = S._tzimas(n=200_000, design=design, seed=17).data
    n = len(d)
    assert abs(truth["ate_logit"] - d["true_te"].mean()) < 4 * d["true_te"].std() / np.sqrt(n)
    assert abs(truth["ate_rd"] - d["true_cate"].mean()) < 4 * d["true_cate"].std() / np.sqrt(n)
    for col in ("anticoagulant", "prior_bleeding", "diabetes"):
        a, b = d.loc[d[col] == 1, "true_te"], d.loc[d[col] == 0, "true_te"]
        se = np.sqrt(a.var() / len(a) + b.var() / len(b))
        assert abs(truth[f"hte_{col}"] - (a.mean() - b.mean())) < 4 * se, col


def test_linear_truth_by_hand():
    # E(BMI - 28) of clip(N(28, 25), 16, 50): (16 - 28) Phi(-2.4) + 5 phi(-2.4) - 5 phi(4.4)
    # + (50 - 28)(1 - Phi(4.4)) (the mean of a clipped normal)
    from scipy.stats import norm
    shift = (-12 * norm.cdf(-2.4) + 5 * norm.pdf(-2.4) - 5 * norm.pdf(4.4)
             + 22 * norm.sf(4.4))
    flat = S._tzimas_truth(effect={"bmi_over_30": 0.0})
    assert S._tzimas_truth(design="linear")["ate_logit"] == pytest.approx(
        flat["ate_logit"] - 0.04 * shift, abs=1e-12)
    assert S._tzimas_truth(design="threshold_strong")["hte_anticoagulant"] == 0.4


def test_bad_designs_are_refused():
    with pytest.raises(ValueError, match="design must be one of 'threshold'"):
        S._tzimas(n=50, design="step", seed=1)
    with pytest.raises(ValueError, match="design must be one of"):
        M.make_truth("tzimas2024")(design="quadratic")
    with pytest.raises(DataError, match=r"sets effect\['bmi_over_30'\]"):
        S._tzimas_truth(design="linear", effect={"bmi_over_30": -0.5})
    assert "design" in M.simulator_params("tzimas2024")


# ----------------------------------------------------------------------------- metrics
def test_interval_checks_by_hand():
    # draws[s, i] = s + i, s = 0..3, three patients: posterior means 1.5, 2.5, 3.5; 50 %
    # intervals (linear quantiles at positions 0.75 and 2.25) [i + 0.75, i + 2.25]
    draws = (np.arange(4)[:, None] + np.arange(3)[None, :]).astype(float)[None]
    truth = np.array([1.0, 3.0, 5.0])
    checks = ipd_methods._interval_checks(draws, truth, 0.5)
    # mean error (0.5 - 0.5 - 1.5) / 3 = -0.5: shifted truth 0.5, 2.5, 4.5; only 2.5 in
    assert checks["cover_debiased"] == pytest.approx(1 / 3)
    # average CATE per draw 1, 2, 3, 4: mean 2.5, SD sqrt(5/3); the true mean 3.0 is in
    # its 50 % interval [1.75, 3.25]
    assert checks["average_cover"] == 1.0
    assert checks["average_z"] == pytest.approx((2.5 - 3.0) / np.sqrt(5 / 3))
    acc = ipd_methods._patient_accuracy(draws, truth, 0.5)
    assert acc["cover"] == pytest.approx(2 / 3) and acc["width"] == pytest.approx(1.5)
    assert np.isnan(ipd_methods._interval_checks(np.ones((1, 3, 2)), truth[:2], 0.5)[
        "average_z"])                                        # no spread: no z


@pytest.fixture(scope="module")
def trial():
    gen = M.make_generate("tzimas2024", params={"n": 250}, factors=["design"])
    return gen(np.random.default_rng(21), design="linear")


def _recorded(mp, module, name, base):
    models = []

    class Recording(base):
        def fit(self, *args, **kwargs):
            models.append(self)
            return super().fit(*args, **kwargs)

    mp.setattr(module, name, Recording)
    return models


def _flat(da) -> np.ndarray:
    return da.transpose("chain", "draw", "patient").values


def test_subgroup_interval_metrics_equal_a_hand_computation(trial):
    with pytest.MonkeyPatch.context() as mp:
        models = _recorded(mp, ipd_methods, "SubgroupHTEModel", SubgroupHTEModel)
        out = M.make_method("subgroup", options={
            "covariates": COVARIATES, "subgroups": ["gender"], **TINY})(trial)
    model = models[0]
    te = trial.true_effects["true_te"].to_numpy()
    marginal = _flat(model.cate_logit())
    est = marginal.reshape(-1, len(te)).mean(axis=0)
    lo, hi = np.quantile(marginal.reshape(-1, len(te)), [0.025, 0.975], axis=0)
    shifted = te + np.mean(est - te)
    assert out["cate_logit_cover_debiased"]["estimate"] == pytest.approx(
        np.mean((lo <= shifted) & (shifted <= hi)))
    avg = marginal.mean(axis=-1).ravel()
    assert out["cate_logit_average_z"]["estimate"] == pytest.approx(
        (avg.mean() - te.mean()) / avg.std(ddof=1))
    a_lo, a_hi = np.quantile(avg, [0.025, 0.975])
    assert out["cate_logit_average_cover"]["estimate"] == float(a_lo <= te.mean() <= a_hi)
    cond = _flat(model.cate_logit(kind="conditional")).reshape(-1, len(te))
    c_lo, c_hi = np.quantile(cond, [0.025, 0.975], axis=0)
    assert out["cate_logit_cover_conditional"]["estimate"] == pytest.approx(
        np.mean((c_lo <= te) & (te <= c_hi)))
    eta = _flat(model.eta()).reshape(-1, len(te))               # the fit's seed: the same
    e_lo, e_hi = np.quantile(eta, [0.025, 0.975], axis=0)
    assert out["eta_cover"]["estimate"] == pytest.approx(np.mean((e_lo <= te) & (te <= e_hi)))
    assert out["eta_width"]["estimate"] == pytest.approx(np.mean(e_hi - e_lo))
    assert set(ipd_methods.SUBGROUP_PATIENT_METRICS) <= set(out)


def test_subgroup_without_individual_layer_has_no_eta_metrics(trial):
    out = M.make_method("subgroup", options={
        "covariates": COVARIATES[:3], "individual_effects": False, **TINY})(trial)
    assert not {"eta_cover", "eta_width"} & set(out)
    # the conditional CATE is the marginal one
    assert out["cate_logit_cover_conditional"] == out["cate_logit_cover"]


def test_s_learner_kind_equals_a_hand_computation(trial):
    with pytest.MonkeyPatch.context() as mp:
        models = _recorded(mp, trial_methods, "IPDMetaModel", IPDMetaModel)
        out = M.make_method("s_learner", options={
            "covariates": COVARIATES, "contrasts": ["female"], **TINY})(trial)
    model = models[0]
    assert model.heterogeneity == "naive" and model.learner == "s"
    # the covariates were standardised as the subgroup model does: binary ones centred,
    # the others centred and divided by their SD (ddof 0)
    X = model.data.X
    raw = trial.frame[COVARIATES].to_numpy(dtype=float)
    expected = raw - raw.mean(axis=0)
    for j in range(len(COVARIATES)):
        if not np.isin(raw[:, j], (0, 1)).all():
            expected[:, j] /= raw[:, j].std()
    np.testing.assert_allclose(X, expected, atol=1e-10)
    lp0, lp1 = model.linear_predictors()
    cate = _flat(lp1 - lp0)
    n = cate.shape[-1]
    draws = cate.mean(axis=-1).ravel()
    assert out["ate_logit"]["estimate"] == pytest.approx(draws.mean())
    assert out["ate_logit"]["se"] == pytest.approx(draws.std(ddof=1))
    female = trial.frame["female"].to_numpy() == 1
    diff = (cate[..., female].mean(axis=-1) - cate[..., ~female].mean(axis=-1)).ravel()
    assert out["hte_female"]["estimate"] == pytest.approx(diff.mean())
    te = trial.true_effects["true_te"].to_numpy()
    flat = cate.reshape(-1, n)
    lo, hi = np.quantile(flat, [0.025, 0.975], axis=0)
    assert out["cate_logit_cover"]["estimate"] == pytest.approx(np.mean((lo <= te) & (te <= hi)))
    assert out["cate_logit_corr"]["estimate"] == pytest.approx(
        np.corrcoef(flat.mean(axis=0), te)[0, 1])
    rd = _flat(model.ite()).reshape(-1, n).mean(axis=0)
    assert out["cate_rd_rmse"]["estimate"] == pytest.approx(
        np.sqrt(np.mean((rd - trial.true_effects["true_cate"].to_numpy()) ** 2)))
    assert {"cate_logit_cover_debiased", "cate_logit_average_z", "divergences",
            "max_r_hat", "min_ess_bulk"} <= set(out)
    assert "cate_logit_cover_conditional" not in out and "eta_cover" not in out


def test_s_learner_bad_input(trial):
    with pytest.raises(ValueError, match="method kind 's_learner' needs covariates"):
        M.make_method("s_learner", options={"draws": 10})
    with pytest.raises(TypeError, match="s_learner needs one trial's patient data"):
        trial_methods.fit_s_learner(pd.DataFrame({"age": [1.0]}), covariates=["age"])
    with pytest.raises(DataError, match=r"covariate column\(s\) \['weight'\]"):
        trial_methods.fit_s_learner(trial, covariates=["weight"])
    with pytest.raises(DataError, match="contrast column 'age' must hold 0 and 1"):
        trial_methods.fit_s_learner(trial, covariates=["age"], contrasts=["age"])
    with pytest.raises(ValueError, match="needs MetaIPD|needs TrialIPD"):
        M.check_method_data("s_learner", "bouvier2024")


# ----------------------------------------------------------------------------- specs
def _keep_methods(text: str, keep: list[str]) -> str:
    """The spec text with only the method tables of ``keep``."""
    head, *tables = re.split(r"\n(?=\[methods\.)", text)
    tail = tables[-1][tables[-1].index("[output]"):]
    tables[-1] = tables[-1][:tables[-1].index("[output]")]
    kept = [t for t in tables if t.split("]")[0].removeprefix("[methods.") in keep]
    return "\n".join([head, *kept, tail])


def test_subgroup_coverage_spec_runs_shrunk_and_makes_its_docs_blocks(tmp_path):
    text = _keep_methods((SPECS / "subgroup_ite_coverage.toml").read_text(),
                         ["subgroup", "subgroup_no_individual", "s_learner"])
    edits = [("draws = 500", "draws = 30"), ("tune = 500", "tune = 30"),
             ("chains = 2", 'chains = 1\nsampler = "pymc"'), ("n = 2000 }", "n = 200 }"),
             ('design = ["threshold", "threshold_strong", "linear"]',
              'design = ["threshold_strong", "linear"]'),
             ('figures = ["performance"]', "figures = []")]
    spec = edited_spec("subgroup_ite_coverage", tmp_path, edits, text=text)
    out = run_study_spec(spec, replicates=1, progress=False, log=lambda m: None)
    est = load(out / "store" / "main").estimates
    assert (est["error"] == "").all(), est["error"].unique()
    assert list(pd.unique(est["design"])) == ["threshold_strong", "linear"]
    # each design's truth, as its scenario's
    truth = est[est["estimand"] == "ate_logit"].groupby("design")["truth"].first()
    assert truth["linear"] == pytest.approx(S._tzimas_truth(design="linear")["ate_logit"])
    perf = pd.read_csv(out / "performance.csv")
    mean = perf[perf["measure"] == "thetamean"].set_index(["design", "method", "estimand"])
    assert ("linear", "s_learner", "cate_logit_average_z") in mean.index
    assert ("linear", "subgroup", "eta_cover") in mean.index

    blocks = _tables().subgroup_blocks(out, command="CMD")
    assert list(blocks) == ["subgroup-coverage", "subgroup-coverage-seed"]
    lines = blocks["subgroup-coverage"].splitlines()
    header = next(line for line in lines if line.startswith("| "))
    assert header == _docs_header("subgroup.md", "subgroup-coverage")    # the same layout
    rows = [line.split(" | ") for line in lines if line.startswith(("| threshold", "| linear"))]
    assert [(r[0], r[1]) for r in rows] == [
        ("| threshold_strong", m) for m in ("subgroup", "subgroup_no_individual", "s_learner")
    ] + [("| linear", m) for m in ("subgroup", "subgroup_no_individual", "s_learner")]
    ok = est[est["error"] == ""].set_index(["design", "method", "estimand"])["estimate"]
    cols = header.strip("| ").split(" | ")
    row = dict(zip(cols, [c.strip(" |") for c in rows[3]], strict=True))
    assert row["replicates"] == "1" and row["coverage_se"] == ""        # one data set
    assert row["coverage"] == f"{ok['linear', 'subgroup', 'cate_logit_cover']:.3f}"
    assert row["coverage_individual"] == f"{ok['linear', 'subgroup', 'eta_cover']:.3f}"
    assert row["divergences"] == str(int(ok["linear", "subgroup", "divergences"]))
    s_row = dict(zip(cols, [c.strip(" |") for c in rows[5]], strict=True))
    assert s_row["coverage_conditional"] == "" and s_row["coverage_individual"] == ""
    assert "Made by `CMD`" in blocks["subgroup-coverage"] and "n = 200" in lines[0]
    seed = blocks["subgroup-coverage-seed"]
    one_header = next(line for line in seed.splitlines() if line.startswith("| "))
    assert one_header == _docs_header("subgroup.md", "subgroup-coverage-seed")
    assert seed.startswith("Data set 0 alone")


def test_berenfeld_figure2_spec_runs_shrunk_and_makes_its_docs_block(tmp_path):
    spec = edited_spec("berenfeld2026_figure2", tmp_path,
                       [('figures = ["estimates"]', "figures = []")])
    out = run_study_spec(spec, replicates=3, progress=False, log=lambda m: None)
    est = load(out / "store" / "main").estimates
    assert (est["error"] == "").all() and est["replicate"].nunique() == 3
    # each replicate's estimates are the old script's estimators on that replicate's
    # counts (escalc effect sizes, rma FE / DL / REML back-transformed; causal_core)
    study = Study(name="x", generate=M.make_generate("berenfeld2026_counts",
                                                     params={"n": 1000}),
                  methods={"m": lambda d: {}}, truth=M.make_truth("berenfeld2026_counts"),
                  scenarios=[{}], replicates=3, seed=20260130)
    for r in range(3):
        tab = study.data(0, r)
        cells = [np.asarray(getattr(tab, k))[:, None] for k in ("n11", "n10", "n01", "n00")]
        for measure in ("RD", "RR", "OR"):
            yi, vi = effect_sizes(*cells, measure=measure)
            back = (lambda x: x) if measure == "RD" else np.exp
            got = est[(est["replicate"] == r) & (est["estimand"] == measure)].set_index(
                "method")["estimate"]
            for method in ("FE", "DL", "REML"):
                ref = float(back(meta_analysis(yi, vi, method=method).estimate[0]))
                assert got[method] == pytest.approx(ref, rel=1e-12), (r, measure, method)
            ref = float(causal_core(*cells, measure=measure)["estimate"][0])
            assert got["causal"] == pytest.approx(ref, rel=1e-12)

    tables = _tables()
    png = tmp_path / "figure2.png"
    block = tables.figure2_blocks(out, command="CMD", figure=png)["figure2"]
    assert png.stat().st_size > 10_000
    header = next(line for line in block.splitlines() if line.startswith("| "))
    assert header == _docs_header("meta_analysis.md", "figure2")        # the same layout
    rd = est[(est["estimand"] == "RD") & (est["method"] == "causal")]["estimate"]
    meta = simulate.berenfeld_truth()["theta_meta"]
    assert (f"| RR | 0.828 | {meta['RR']:.3f} |" in block
            and f"{np.median(rd):.3f} [{np.quantile(rd, 0.05):.3f}, "
                f"{np.quantile(rd, 0.95):.3f}] |" in block)
    assert block.startswith("Median [5%, 95%] of the estimates over 3 meta-analyses "
                            "(study seed 20260130); made by `CMD`.")
    # the command line: --print-only prints the block and writes nothing
    text = tables.main(["berenfeld2026_figure2", "--out", str(out), "--print-only",
                        "--command", "CMD"])
    assert text == block

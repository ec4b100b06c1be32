"""metafor-style printouts of the comparator results: ``print(res)`` and ``repr(res)``.

Reference numbers are R metafor's (tests/data/metafor_bcg.json and
metafor_berkey1998.json, written by validation/metafor_reference.R; their "call" fields
give the exact calls), rounded as metafor's ``print.rma`` prints them with its default
``digits = 4``: estimates, SEs, statistics, interval bounds, tau², tau and Q with 4
decimals, I² and H² with 2. R 4.2.2 / metafor 3.8-1, for BCG (log RR, REML)::

    dat <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
    fit <- rma(yi, vi, data = dat, method = "REML"); print(fit); predict(fit); confint(fit)

prints estimate -0.7145, se 0.1798, zval -3.9744, pval <.0001, CI -1.0669 to -0.3622,
tau^2 0.3132 (confint 0.1197 to 1.1115), tau 0.5597 (0.3460 to 1.0543), I^2 92.22%
(81.9177 to 97.6781), H^2 12.86, Q(df = 12) = 152.2330, PI -1.8667 to 0.4376.
"""

import numpy as np
import pytest

import bayes_hte as bh
from bayes_hte.comparators.printout import format_number, format_p
from tests._helpers import berkey1998, reference

_BCG = reference("metafor_bcg")
_FITS = {(f["method"], f["test"] == "knha"): f for f in _BCG["rma"]["fits"]}
_BERKEY = reference("metafor_berkey1998")


@pytest.fixture(scope="module")
def bcg_rr():
    d = bh.datasets.bcg()
    counts = bh.ArmTable.from_frame(d, n11="tpos", n10="tneg", n01="cpos", n00="cneg",
                                    study="study")
    return counts, counts.effects("RR")


def _printed(x: float) -> str:
    """A number as metafor prints it with digits = 4."""
    return f"{x:.4f}"


def test_bcg_reml_printout_has_metafor_numbers(bcg_rr):
    res = bh.comparators.meta_analysis(bcg_rr[1], method="REML")
    text = str(res)
    ref = _FITS[("REML", False)]
    assert text.splitlines()[0] == "Random-Effects Model (k = 13; tau^2 estimator: REML)"
    # the literal strings of metafor's printout (module docstring) ...
    for s in ("-0.7145", "0.1798", "-3.9744", "< 0.0001", "-1.0669", "-0.3622",
              "-1.8667 to 0.4376", "0.3132", "Q-profile CI 0.1197 to 1.1115", "0.5597",
              "CI 0.3460 to 1.0543", "92.22%", "81.92% to 97.68%", "12.86",
              "Q = 152.2330 on 12 df, p < 0.0001"):
        assert s in text, s
    # ... are the reference values rounded
    for key in ("estimate", "se", "stat", "tau2", "q"):
        assert _printed(ref[key]) in text, key
    for bound in (*ref["ci"], *ref["pi"], *ref["tau2_ci"]):
        assert _printed(bound) in text
    assert f"{ref['i2']:.2f}%" in text and f"{ref['h2']:.2f}" in text
    # the RR scale
    assert (f"On the RR scale: {np.exp(ref['estimate']):.4f}, 95% CI "
            f"{np.exp(ref['ci'][0]):.4f} to {np.exp(ref['ci'][1]):.4f}") in text
    # repr is the printout (R prints an object the same way when typed)
    assert repr(res) == text
    # the tidy frame is unchanged
    assert res.summary().loc["REML", "estimate"] == pytest.approx(ref["estimate"], rel=1e-6)


def test_bcg_dl_hksj_and_fe_printouts(bcg_rr):
    res = bh.comparators.meta_analysis(bcg_rr[1], method="DL", knha=True)
    text = str(res)
    ref = _FITS[("DL", True)]
    assert "t test on 12 df, Hartung-Knapp-Sidik-Jonkman" in text
    # metafor: -0.7141 0.1807 tval -3.9520 df 12 pval 0.0019 CI -1.1078 -0.3204
    for s in ("-0.7141", "0.1807", "-3.9520", "0.0019", "-1.1078", "-0.3204",
              "t_{12} quantile"):
        assert s in text, s
    for bound in ref["pi"]:
        assert _printed(bound) in text
    fe = str(bh.comparators.meta_analysis(bcg_rr[1], method="FE"))
    ref = _FITS[("FE", False)]
    assert fe.splitlines()[0] == "Fixed-Effect Model (k = 13)"
    # metafor: -0.4303 0.0405 zval -10.6247; I^2 92.12%, H^2 12.69; no tau^2, no PI
    for s in ("-0.4303", "0.0405", "-10.6247", "92.12%", "12.69", "152.2330"):
        assert s in fe, s
    assert "tau^2" not in fe and "Prediction interval" not in fe
    assert _printed(ref["ci"][0]) in fe


def test_replicates_print_short():
    rng = np.random.default_rng(1)
    res = bh.comparators.meta_analysis(rng.normal(size=(6, 40)), np.full((6, 40), 0.2))
    text = str(res)
    assert len(text.splitlines()) == 2 and "40 meta-analyses" in text
    assert repr(res) == text


def test_causal_printout(bcg_rr):
    res = bh.comparators.causal_meta_analysis(bcg_rr[0], "RR")
    text = str(res)
    assert text.startswith("Causal Meta-Analysis (k = 13; n = 357,347; measure: RR")
    for x in (res.estimate, res.se, res.log_se, res.z, res.ci_low, res.ci_high, res.psi1,
              res.psi0):
        assert _printed(x) in text
    assert repr(res) == text
    rd = str(bh.comparators.causal_meta_analysis(bcg_rr[0], "RD"))
    assert "log_se" not in rd


def test_mvmeta_printout_has_metafor_numbers():
    y, S, _ = berkey1998()
    res = bh.comparators.mvmeta(y, S, method="REML", structure="unstructured",
                                names=["PD", "AL"])
    text = str(res)
    ref = next(f for f in _BERKEY["structures"]
               if f["structure"] == "unstructured" and f["method"] == "REML")
    full = _BERKEY["unstructured_reml"]
    assert text.splitlines()[0].startswith("Multivariate Random-Effects Model (k = 5 studies; "
                                           "p = 2 coefficients; method: REML")
    # metafor's print.rma.mv: tau^2 0.0117 / 0.0327, sqrt 0.1083 / 0.1807, rho 0.6088,
    # QE(df = 8) = 128.2267, estimates 0.3534 / -0.3392, se 0.0588 / 0.0879, CIs
    for x in (*ref["tau2"], *full["tau"], ref["rho"], full["q"], *ref["estimate"], *ref["se"],
              *full["ci_low"], *full["ci_high"]):
        assert _printed(x) in text, x
    assert "on 8 df" in text and repr(res) == text
    cs = str(bh.comparators.mvmeta(y, S, structure="compound_symmetry"))
    assert "common to the coefficients" in cs and "correlation rho" in cs
    fe = str(bh.comparators.mvmeta(y, S, method="FE"))
    assert fe.startswith("Multivariate Fixed-Effect Model") and "tau^2" not in fe
    for x in _BERKEY["fixed_effect"]["estimate"]:
        assert _printed(x) in fe
    many = str(bh.comparators.mvmeta(np.stack([y, y], -1), np.stack([S, S], -1)))
    assert "2 replicates" in many and len(many.splitlines()) == 2


def test_cima_printout():
    d = bh.datasets.sglt2_hf()
    fit = bh.comparators.cima(d.effects, d.covariates, d.target,
                              cate="~ lvef + prehhf + diabetes", target_n=2000)
    text = str(fit)
    assert text.startswith("CIMA-AgD: CATE transported to a target population (k = 4 trials; "
                           "26 reported effects)")
    for x in (fit.ate.estimate, fit.ate.se, *fit.ate.ci, *fit.coef["estimate"],
              *fit.coef["se"], *fit.coef["ci_low"], *fit.subgroups["estimate"]):
        assert format_number(x) in text
    assert repr(fit) == text
    ate = str(fit.ate)
    assert format_number(fit.ate.estimate) in ate and repr(fit.ate) == ate


def test_two_step_printout():
    from bayes_hte.simulate.two_step import two_step

    sim = two_step(design="simulation2", trials=4, tau2=0.1, size_range=(40, 60),
                   missing_visit_fraction=0.4, seed=1)
    data = bh.LongitudinalData.from_frame(sim.data, **sim.columns)
    res = bh.comparators.two_step_ipdma(data)
    text = str(res)
    assert "Step 1. Per-trial Linear Mixed Models (k = 4 trials" in text
    assert "Step 2. Multivariate Random-Effects Model" in text
    for x in res.step2.estimate:
        assert format_number(x) in text
    fit = next(iter(res.step1.fits.values()))
    one = str(fit)
    assert one.startswith("Linear Mixed Model (trial ") and format_number(fit.loglik) in one


@pytest.mark.parametrize("x,digits,out", [
    (-0.71453, 4, "-0.7145"), (0.0, 4, "0.0000"), (1.873e-05, 4, "1.873e-05"),
    (float("nan"), 4, "nan"), (12.3456, 2, "12.35")])
def test_format_number(x, digits, out):
    assert format_number(x, digits=digits) == out


@pytest.mark.parametrize("p,out", [(7.05e-05, "< 0.0001"), (0.00192, "0.0019"),
                                   (0.5, "0.5000"), (float("nan"), "nan")])
def test_format_p(p, out):
    assert format_p(p) == out

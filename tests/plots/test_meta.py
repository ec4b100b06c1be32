"""Forest plots of meta-analyses: they read results and return figures."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from bayes_hte import ArmTable  # noqa: E402
from bayes_hte.comparators import causal_meta_analysis, meta_analysis  # noqa: E402
from bayes_hte.effects.synthesis import PosteriorSummary  # noqa: E402
from bayes_hte.plots import combined_forest_plot, forest_plot  # noqa: E402

COUNTS = pd.DataFrame({"study": ["A", "B", "C", "D"], "n11": [4, 6, 3, 62],
                       "n10": [119, 300, 228, 13536], "n01": [11, 29, 11, 248],
                       "n00": [128, 274, 209, 12619]})


def test_forest_plot_draws_studies_diamond_and_prediction_interval():
    res = meta_analysis(ArmTable.from_frame(COUNTS).effects("RR"), method="DL")
    fig = forest_plot(res, title="BCG subset")
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"  # log RR drawn as RR
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["A", "B", "C", "D", "Pooled (DL)"]
    texts = " ".join(t.get_text() for t in ax.texts)
    assert f"{np.exp(res.estimate):.2f}" in texts and "PI [" in texts
    assert any("%" in t.get_text() for t in ax.texts)  # weights column
    assert len(ax.patches) == 1  # the diamond
    plt.close(fig)
    fe = forest_plot(meta_analysis(res.yi, res.vi, method="FE"), transform=None)
    assert fe.axes[0].get_xscale() == "linear"
    plt.close(fe)


def test_combined_forest_plot_puts_answers_on_one_natural_axis():
    table = ArmTable.from_frame(COUNTS)
    classical = meta_analysis(table.effects("RR"), method="REML")
    causal = causal_meta_analysis(table, "RR")
    bayes = PosteriorSummary(label="theta", estimate=0.5, se=0.1, ci=np.array([0.3, 0.8]),
                             ci_prob=0.95)
    fig = combined_forest_plot({"classical RE": classical, "causal": causal,
                                "causal Bayes": bayes}, studies=causal, truth=0.45)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["A", "B", "C", "D", "classical RE", "causal", "causal Bayes"]
    assert len(ax.patches) == 3
    # the classical diamond is drawn on the RR scale
    xs = ax.patches[0].get_xy()[:, 0]
    assert np.exp(classical.ci[0]) == pytest.approx(xs.min())
    assert any(line.get_color() == "red" for line in ax.lines)
    plt.close(fig)


def test_plot_errors():
    rng = np.random.default_rng(0)
    many = meta_analysis(rng.normal(size=(5, 3)), np.full((5, 3), 0.1))
    with pytest.raises(ValueError, match="one meta-analysis"):
        forest_plot(many)
    with pytest.raises(ValueError, match="transform"):
        forest_plot(meta_analysis([0.1, 0.2], [0.1, 0.1]), transform="log")
    with pytest.raises(ValueError, match="empty"):
        combined_forest_plot({})
    with pytest.raises(ValueError, match="one estimate"):
        combined_forest_plot({"many": many})


def test_bubble_plot_draws_the_studies_and_the_fitted_line_with_its_bands():
    from bayes_hte import datasets
    from bayes_hte.comparators import meta_regression
    from bayes_hte.errors import DataError
    from bayes_hte.plots import bubble_plot

    bcg = datasets.bcg()
    eff = ArmTable.from_frame(bcg, n11="tpos", n10="tneg", n01="cpos", n00="cneg",
                              study="study").effects("RR")
    reg = meta_regression(eff, mods=bcg[["ablat", "year"]])
    fig = bubble_plot(reg, "ablat", transform="exp", labels=True)
    ax = fig.axes[0]
    assert ax.get_yscale() == "log" and ax.get_ylabel() == "RR"
    studies = ax.collections[-1]                 # the circles: one per study
    np.testing.assert_allclose(studies.get_offsets()[:, 0], bcg["ablat"])
    np.testing.assert_allclose(studies.get_offsets()[:, 1], np.exp(np.ravel(reg.yi)))
    sizes = studies.get_sizes()                  # area linear in the weight
    w = 1 / (np.ravel(reg.vi) + reg.tau2)
    np.testing.assert_allclose(sizes, 20 + 380 * w / w.max())
    fitted = [ln for ln in ax.get_lines() if ln.get_label() == "fitted"][0]
    x, y = fitted.get_data()                     # year held at its weighted mean
    year = bcg["year"].mean()                    # as metafor's regplot
    np.testing.assert_allclose(np.log(y), reg.beta[0] + reg.beta[1] * x + reg.beta[2] * year)
    assert "year = " in ax.get_xlabel() and len(ax.texts) == 13
    plt.close(fig)
    with pytest.raises(DataError, match=r"moderator 'lat' is not in the fit"):
        bubble_plot(reg, "lat")
    with pytest.raises(DataError, match=r"at must give the other moderators \['year'\]"):
        bubble_plot(reg, "ablat", at={"ablat": 1.0})
    with pytest.raises(DataError, match="intercept-only"):
        bubble_plot(meta_regression(eff))
    with pytest.raises(ValueError, match="transform"):
        bubble_plot(reg, transform="log")
    rd = meta_regression(ArmTable.from_frame(bcg, n11="tpos", n10="tneg", n01="cpos",
                                             n00="cneg", study="study").effects("RD"),
                         mods=bcg[["ablat"]])
    with pytest.raises(ValueError, match=r"back-transforms log-scale effects; these are RD"):
        bubble_plot(rd, transform="exp")
    fe = bubble_plot(meta_regression(eff, mods=bcg[["ablat"]], method="FE"))
    assert not [ln for ln in fe.axes[0].get_lines() if "prediction" in ln.get_label()]

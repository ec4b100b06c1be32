"""``fit()`` warns when the chains miss a convergence target, as PyMC, brms and Stan do.

Targets (Vehtari et al. 2021, :func:`bayes_hte.diagnostics.health_problems`): no
divergent transitions, R-hat <= 1.01, bulk and tail ESS >= 100 per chain. The runners,
the cross-validation refits, ``compare_ite_models`` and the studies log the health
themselves, so they fit inside ``convergence_warnings(False)``.
"""

import warnings

import numpy as np
import pytest

import bayes_hte as bh
from bayes_hte import diagnostics
from tests._helpers import reference

# BCG vaccine trials, log RR (R metafor 3.8-1 escalc(measure="RR", data=dat.bcg)), in
# tests/data/metafor_bcg.json
_RR = reference("metafor_bcg")["escalc"]["RR"]
BCG = bh.EffectTable.from_arrays(np.array(_RR["yi"]), np.array(_RR["vi"]),
                                 labels=[f"trial {i}" for i in range(13)],
                                 measure="RR", scale="log")
#: 2 chains of 30 draws: far fewer than the 200 effective draws the target asks for.
SHORT = {"draws": 30, "tune": 100, "chains": 2, "random_seed": 3}


def _convergence(caught):
    return [w for w in caught if issubclass(w.category, bh.ConvergenceWarning)]


def test_a_short_fit_warns_naming_the_model_the_target_and_the_users_line():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        m = bh.MetaAnalysisModel(tau_prior="half_normal").fit(BCG, **SHORT)
    (w,) = _convergence(caught)
    text = str(w.message)
    assert text.startswith("MetaAnalysisModel(")
    assert ".fit: " in text and "min bulk ESS" in text
    assert "< 200 (100 per chain x 2 chains): too few effective draws" in text
    assert text.count("draw more") == 1 and "draw more (e.g. draws=" in text
    assert text.endswith("See parameters() for R-hat and ESS per parameter.")
    # attributed to this file (the user's call), not to bayes_hte's internals
    assert w.filename == __file__
    # the same numbers as the fit's own table
    health = diagnostics.sampling_summary(m.idata, table=m.parameters())
    problems = diagnostics.health_problems(health)
    assert problems and all(p in text for p in problems)


def test_a_converged_fit_is_silent():
    with warnings.catch_warnings():
        warnings.simplefilter("error", bh.ConvergenceWarning)
        m = bh.MetaAnalysisModel(tau_prior="half_normal").fit(BCG, random_seed=1)
    health = diagnostics.sampling_summary(m.idata, table=m.parameters())
    assert health["divergences"] == 0 and health["max_r_hat"] <= diagnostics.MAX_R_HAT
    assert health["min_ess_bulk"] >= diagnostics.MIN_ESS_PER_CHAIN * health["chains"]


def test_the_warning_is_turned_off_in_a_block_and_back_on_after_it():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with diagnostics.convergence_warnings(False):
            assert not diagnostics.convergence_warnings_on()
            bh.MetaAnalysisModel().fit(BCG, **SHORT)
        assert diagnostics.convergence_warnings_on()
    assert _convergence(caught) == []


def test_an_error_inside_the_block_still_turns_the_warning_back_on():
    with pytest.raises(RuntimeError), diagnostics.convergence_warnings(False):
        raise RuntimeError
    assert diagnostics.convergence_warnings_on()


@pytest.mark.parametrize("make", [
    lambda: bh.CausalMetaModel(),
    lambda: bh.MetaAnalysisModel(tau_prior="half_cauchy"),
])
def test_every_bayesian_estimator_checks_its_fit(make):
    """The check is the last step of the shared ``fit`` path of each estimator family."""
    data = bh.ArmTable.from_frame(bh.datasets.bcg(), n11="tpos", n10="tneg", n01="cpos",
                                  n00="cneg", study="trial")
    data = data if isinstance(make(), bh.CausalMetaModel) else data.effects("RR")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        make().fit(data, **SHORT)
    assert len(_convergence(caught)) == 1


def test_one_chain_is_reported_as_unchecked():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bh.MetaAnalysisModel().fit(BCG, draws=500, tune=500, chains=1, random_seed=2)
    (w,) = _convergence(caught)
    assert "R-hat not checked: 1 chain (R-hat compares chains; run chains >= 2" in \
        str(w.message)


def test_the_suggested_draws_cover_the_shortfall():
    health = {"divergences": 0, "max_r_hat": 1.0, "min_ess_bulk": 58.0, "min_ess_tail": 48.0,
              "chains": 2, "draws": 30}
    (text,) = diagnostics.health_problems(health)
    assert text == ("min bulk ESS 58 and tail ESS 48 < 200 (100 per chain x 2 chains): too "
                    "few effective draws for reliable intervals; draw more (e.g. draws=200)")


def test_an_r_hat_just_above_the_target_does_not_print_as_the_target():
    """1.0102 printed as "1.010 > 1.01", which reads as a contradiction."""
    health = {"divergences": 0, "min_ess_bulk": 1000.0, "min_ess_tail": 1000.0, "chains": 4,
              "draws": 1000}
    (near,) = diagnostics.health_problems({**health, "max_r_hat": 1.0102})
    (far,) = diagnostics.health_problems({**health, "max_r_hat": 1.0302})
    assert near.startswith("max R-hat 1.0102 > 1.01") and far.startswith("max R-hat 1.030 >")

"""Priors given once for a grid of IPD-MA models (a spec's ``[priors]``, the ``priors=`` of
``compare_ite_models``): every model takes those of its own parameters, and a name that
no model has is refused before the first fit.

Before, a prior name was checked only when its model was built: a spec fitted and wrote
the models before it and then stopped with a raw ``ValueError`` traceback, and a prior on
the treatment effect ``gamma`` could not be given for a grid with T-learners at all (a
T-learner has no ``gamma``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

import bayes_hte as bh
from bayes_hte.models.priors import priors_for_models
from bayes_hte.runners.ipdma import IPDMARunner
from bayes_hte.runners.schema import SpecError
from bayes_hte.spec import run_spec
from tests._helpers import bouvier_ipdma_toml

VAGUE = {"dist": "Normal", "mu": 0, "sigma": 10}


def test_a_model_checks_its_priors_when_made():
    with pytest.raises(ValueError, match=r"ipdma/random_intercept/t: no parameter 'gamma'"):
        bh.IPDMetaModel(learner="t", priors={"gamma": VAGUE})
    with pytest.raises(ValueError, match="gama"):
        bh.IPDMetaModel(priors={"gama": VAGUE})
    tte = bh.IPDMetaModel(outcome="time_to_event", priors={"log_shape": VAGUE})
    assert "log_shape" in tte.default_priors() and tte.priors == {"log_shape": VAGUE}


def test_priors_for_models_gives_each_model_its_own():
    s, t = (bh.IPDMetaModel(learner=lr).default_priors() for lr in ("s", "t"))
    own = priors_for_models({"gamma": VAGUE, "theta": VAGUE}, {"s": s, "t": t})
    assert own == {"s": {"gamma": VAGUE, "theta": VAGUE}, "t": {"theta": VAGUE}}
    with pytest.raises(ValueError, match=r"no model has the parameter\(s\) \['gama'\]"):
        priors_for_models({"gama": VAGUE}, {"s": s, "t": t})
    assert priors_for_models(None, {"s": s}) == {"s": {}}


SPEC = bouvier_ipdma_toml(patients_per_trial=40, heterogeneity=["naive", "random_intercept"])


def _spec(tmp_path: Path, priors: str, learners: str = '["s", "t"]') -> Path:
    path = tmp_path / "grid.toml"
    path.write_text(SPEC.replace('learner = ["s"]', f"learner = {learners}").format()
                    + f"\n[priors]\n{priors}\n\n[sampler]\ndraws = 20\ntune = 20\n"
                    f'chains = 1\nsampler = "pymc"\n\n[output]\ndir = "{tmp_path / "out"}"\n')
    return path


def test_a_spec_prior_no_model_has_stops_before_the_first_fit(tmp_path):
    spec = _spec(tmp_path, 'random_intercept = { gama = { dist = "Normal", mu = 0, sigma = 10 } }')
    with pytest.raises(SpecError, match=r"\[priors\] no model has the parameter\(s\) \['gama'\]"):
        run_spec(spec, log=lambda m: None)
    assert not list((tmp_path / "out").glob("posteriors/*.nc"))


def test_all_applies_to_every_learner_where_the_parameter_exists(tmp_path, monkeypatch):
    """``all = { gamma = ... }`` over T- and S-learners: the grid is made without an
    error (the first fit is stopped here), the T-learner without gamma's prior."""
    made: list[bh.IPDMetaModel] = []

    def first_fit(model, *args, **kwargs):
        made.append(model)
        raise KeyboardInterrupt  # the grid was made and checked; no need to fit

    monkeypatch.setattr(IPDMARunner, "_start_iecv", lambda self, data, models, truth: None)
    monkeypatch.setattr(bh.IPDMetaModel, "fit", first_fit)
    spec = _spec(tmp_path, 'all = { gamma = { dist = "Normal", mu = 0, sigma = 10 } }',
                 learners='["t", "s"]')
    with pytest.raises(KeyboardInterrupt):
        run_spec(spec, log=lambda m: None)
    assert [(m.label, m.priors) for m in made] == [("NA-T", {})]
    grid = [bh.IPDMetaModel(heterogeneity=h, learner=lr) for h in ("naive", "random_intercept")
            for lr in ("t", "s")]
    own = priors_for_models({"gamma": VAGUE}, {k: m.default_priors()
                                               for k, m in enumerate(grid)})
    assert [own[k] for k in range(4)] == [{}, {"gamma": VAGUE}, {}, {"gamma": VAGUE}]

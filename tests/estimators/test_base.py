"""The shared estimator protocol: save / load round trips, files written by 0.1, priors
renamed by the naming rule (between-trial SDs are ``tau_<parameter>``)."""

import numpy as np
import pytest
import xarray as xr

import bayes_hte as bh
from bayes_hte.models.priors import RENAMED_PRIORS, resolve_priors
from bayes_hte.simulate import bouvier2024

TINY = dict(draws=30, tune=30, chains=1, random_seed=3, sampler="pymc")


@pytest.fixture(scope="module")
def fs_fit(tmp_path_factory):
    sim = bouvier2024(trials=3, patients_per_trial=80, covariates=3, seed=2)
    data = bh.IPDData.from_frame(sim.data, outcome="y", treatment="treat", study="trial",
                                 covariates=["x1", "x2", "x3"])
    m = bh.IPDMetaModel(heterogeneity="fully_stratified", learner="s").fit(data, **TINY)
    return m, tmp_path_factory.mktemp("fits")


def test_round_trip_keeps_estimands(fs_fit):
    m, tmp = fs_fit
    back = bh.IPDMetaModel.load(m.save(tmp / "fs.nc"))
    assert back.label == "FS-S" and back._seed == 3
    xr.testing.assert_allclose(back.ite(new_trial=True), m.ite(new_trial=True))
    assert "tau_b" in back.idata["posterior"]


def test_loads_a_file_written_by_0_1(fs_fit):
    """0.1 named the FS between-trial SDs sd_study (and the correlation corr_study)."""
    m, tmp = fs_fit
    tree = m.idata.copy()
    post = tree["posterior"].to_dataset().rename_vars(
        {"tau_b": "sd_study", "corr_b": "corr_study", "corr_chol_b": "corr_chol_study"})
    post.attrs = dict(m.idata["posterior"].attrs)
    post.attrs.pop("bayes_hte_random_seed")
    tree["posterior"] = xr.DataTree(post)
    old = tmp / "old.nc"
    tree.drop_nodes(["sample_stats"]).to_netcdf(old, engine="h5netcdf")
    back = bh.IPDMetaModel.load(old)
    names = set(back.idata["posterior"].data_vars)
    assert {"tau_b", "corr_b", "corr_chol_b"} <= names
    assert not {"sd_study", "corr_study"} & names
    np.testing.assert_array_equal(back.idata["posterior"]["tau_b"], m.idata["posterior"]["tau_b"])
    xr.testing.assert_allclose(back.ite(), m.ite())


def test_load_refuses_another_estimator(fs_fit):
    m, tmp = fs_fit
    path = m.save(tmp / "x.nc")
    with pytest.raises(ValueError, match="holds a 'IPDMetaModel', not a SubgroupHTEModel"):
        bh.SubgroupHTEModel.load(path)


@pytest.mark.parametrize("old,new", sorted(RENAMED_PRIORS.items()))
def test_old_prior_names_resolve_with_a_warning(old, new):
    defaults = {new: {"dist": "HalfNormal", "sigma": 1.0}}
    with pytest.warns(FutureWarning, match=f"'{old}' is now called '{new}'"):
        out = resolve_priors(defaults, {old: {"sigma": 0.25}}, family="test")
    assert out == {new: {"dist": "HalfNormal", "sigma": 0.25}}


def test_unknown_prior_is_named_as_given():
    with pytest.raises(ValueError, match="no parameter 'sd_study'"):
        resolve_priors({"alpha": {"dist": "Normal", "mu": 0, "sigma": 1}},
                       {"sd_study": {"sigma": 1}}, family="test")


@pytest.mark.parametrize(("given", "match"), [
    ({"tau_b": {"sigma": -1.0}}, "HalfNormal sigma must be > 0, got -1.0"),
    ({"tau_b": {"sigma": 0}}, "HalfNormal sigma must be > 0"),
    ({"tau_b": {"sigma": "1"}}, "HalfNormal sigma must be a number"),
    ({"tau_b": {"sigma": True}}, "HalfNormal sigma must be a number"),
    ({"tau_b": {"sigma": float("nan")}}, "HalfNormal sigma must be finite"),
    ({"alpha": {"mu": float("inf")}}, "Normal mu must be finite"),
    ({"theta": {"dist": "StudentT", "nu": -3, "mu": 0, "sigma": 1}}, "StudentT nu must be > 0"),
    ({"tau_b": {"dist": "Gamma", "alpha": 2, "beta": 0}}, "Gamma beta must be > 0"),
    ({"tau_b": {"dist": "Exponential", "lam": -1}}, "Exponential lam must be > 0"),
    ({"corr_b": {"eta": 0}}, "LKJ eta must be > 0"),
    ({"tau_b": {"dist": "Uniform", "lower": 2, "upper": 1}},
     "Uniform lower must be below upper"),
])
def test_invalid_prior_values_are_refused_before_sampling(given, match, monkeypatch):
    """A value the distribution cannot take never reaches the sampler (where it was a
    failed initialisation with a Rust backtrace)."""
    import pymc as pm

    def no_sampling(*args, **kwargs):
        raise AssertionError("sampled")

    monkeypatch.setattr(pm, "sample", no_sampling)
    sim = bouvier2024(trials=3, patients_per_trial=40, covariates=3, seed=2)
    data = bh.IPDData.from_frame(sim.data, outcome="y", treatment="treat", study="trial",
                                 covariates=["x1"])
    with pytest.raises(ValueError, match=f"prior '{next(iter(given))}': {match}"):
        bh.IPDMetaModel(heterogeneity="fully_stratified", priors=given).fit(data, **TINY)


def test_cauchy_location_may_be_negative():
    out = resolve_priors({"alpha": {"dist": "Normal", "mu": 0, "sigma": 1}},
                         {"alpha": {"dist": "Cauchy", "alpha": -2.0, "beta": 1.0}},
                         family="test")
    assert out["alpha"] == {"dist": "Cauchy", "alpha": -2.0, "beta": 1.0}


# ------------------------------------------------- persistence (issue 13, 3a)
def test_saved_fit_keeps_data_priors_options_seed_and_version(fs_fit):
    from bayes_hte.estimators.base import ATTR_OPTIONS, ATTR_PRIORS, ATTR_VERSION

    m, tmp = fs_fit
    assert m.fitted_version == bh.__version__
    back = bh.IPDMetaModel.load(m.save(tmp / "kept.nc"))
    attrs = back.idata["posterior"].attrs
    assert attrs[ATTR_VERSION] == bh.__version__ == back.fitted_version
    assert attrs[ATTR_OPTIONS] == m.idata["posterior"].attrs[ATTR_OPTIONS]
    assert attrs[ATTR_PRIORS] == m.idata["posterior"].attrs[ATTR_PRIORS]
    assert back._options() == m._options() and back._seed == m._seed
    np.testing.assert_array_equal(back.data.X, m.data.X)
    np.testing.assert_array_equal(back.data.y, m.data.y)
    assert back.data.study_labels == m.data.study_labels


def test_a_file_of_another_version_loads_and_says_so(fs_fit):
    from bayes_hte.estimators.base import ATTR_VERSION

    m, tmp = fs_fit
    tree = m.idata.copy()
    tree["posterior"].attrs[ATTR_VERSION] = "0.0.9"
    tree.drop_nodes(["sample_stats"]).to_netcdf(tmp / "v009.nc", engine="h5netcdf")
    back = bh.IPDMetaModel.load(tmp / "v009.nc")
    assert back.fitted_version == "0.0.9"
    xr.testing.assert_allclose(back.ite(), m.ite())


def test_load_refuses_a_fit_of_a_different_model(fs_fit):
    """Stored options that build another model than the posterior holds: refused."""
    import json

    from bayes_hte.estimators.base import ATTR_OPTIONS

    m, tmp = fs_fit
    tree = m.idata.copy()
    options = json.loads(tree["posterior"].attrs[ATTR_OPTIONS])
    tree["posterior"].attrs[ATTR_OPTIONS] = json.dumps({**options,
                                                        "heterogeneity": "random_intercept"})
    tree.drop_nodes(["sample_stats"]).to_netcdf(tmp / "other.nc", engine="h5netcdf")
    with pytest.raises(ValueError, match="is not a fit of the IPDMetaModel\\(heterogeneity="
                       "'random_intercept'.*its posterior lacks \\["):
        bh.IPDMetaModel.load(tmp / "other.nc")

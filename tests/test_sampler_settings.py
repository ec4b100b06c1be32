"""``bayes_hte.options.check_sampler_setting``: the one check of stored sampler settings
(study methods, the IECV refits of another process, ``[evaluation]`` of a spec)."""

import numpy as np
import pytest

from bayes_hte.options import SAMPLER_SETTINGS, check_sampler_setting


@pytest.mark.parametrize(("name", "value"), [
    ("draws", 1), ("draws", np.int64(100)), ("tune", 0), ("chains", 4),
    ("random_seed", None), ("random_seed", 0), ("target_accept", None),
    ("target_accept", 0.95), ("sampler", None), ("sampler", "pymc"),
    ("mass_matrix", "auto"), ("mass_matrix", "low_rank"),
])
def test_allowed_values_pass(name, value):
    check_sampler_setting(name, value)


@pytest.mark.parametrize(("name", "value", "match"), [
    ("draws", 0, "draws must be an integer >= 1"),
    ("draws", 100.0, "draws must be an integer >= 1"),
    ("draws", True, "draws must be an integer >= 1"),
    ("tune", -1, "tune must be an integer >= 0"),
    ("chains", None, "chains must be an integer >= 1"),
    ("random_seed", -3, "random_seed must be an integer >= 0"),
    ("target_accept", 0, r"target_accept must be in \(0, 1\)"),
    ("target_accept", "0.9", r"target_accept must be in \(0, 1\)"),
    ("sampler", "stan", "sampler must be one of"),
    ("mass_matrix", "dense", "mass_matrix must be one of"),
    ("cores", 2, "'cores' is not a sampler setting"),
])
def test_bad_values_raise_naming_the_setting(name, value, match):
    with pytest.raises(ValueError, match=match):
        check_sampler_setting(name, value)


def test_every_listed_setting_is_checked():
    for name in SAMPLER_SETTINGS:
        with pytest.raises(ValueError, match=name):
            check_sampler_setting(name, object())


def test_a_mapping_is_checked_by_its_sampler_settings_only():
    from bayes_hte.options import check_sampler_settings

    check_sampler_settings({"draws": 10, "workers": 3, "recalibrate": True})
    with pytest.raises(ValueError, match="chains must be an integer >= 1"):
        check_sampler_settings({"workers": 3, "chains": 0})

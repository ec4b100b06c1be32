"""`bayes-hte run` with aggregate-data trials: models/ipdma_ipd_ad_demo.toml, shrunk."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from bayes_hte.runners.ipd_aggregate import load_aggregate, loo_view
from bayes_hte.runners.schema import SpecError
from bayes_hte.spec import run_spec
from tests._helpers import assert_csv_columns_named

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "models" / "ipdma_ipd_ad_demo.toml"


def _shrunk(tmp_path: Path) -> str:
    text = DEMO.read_text()
    for old, new in [('"data/ipd_ad_demo/', f'"{ROOT / "models" / "data" / "ipd_ad_demo"}/'),
                     ('heterogeneity = ["naive", "random_intercept", "stratified_intercept"]',
                      'heterogeneity = ["random_intercept"]'),
                     ("draws = 1000", "draws = 150"), ("tune = 1000", "tune = 200"),
                     ("chains = 4", 'chains = 2\nsampler = "nutpie"'),
                     ('dir = "results/ipdma_ipd_ad_demo"', f'dir = "{tmp_path / "out"}"')]:
        assert old in text, old
        text = text.replace(old, new)
    return text


def test_demo_spec_runs_small(tmp_path):
    spec = tmp_path / "ipd_ad.toml"
    spec.write_text(_shrunk(tmp_path))
    messages: list[str] = []
    run_spec(spec, log=messages.append)
    out = tmp_path / "out"
    assert_csv_columns_named(out)
    for name in ("marginal_effects.csv", "integration_check.csv", "loo_compare.csv",
                 "ite_summary.csv", "report.md", "posteriors/RI-S.nc"):
        assert (out / name).exists(), name
    me = pd.read_csv(out / "marginal_effects.csv")
    pops = set(me["population"])
    assert {"trial:T1", "trial:T5", "trial:T6", "target", "target, new trial"} <= pops
    rd = me[(me["measure"] == "RD")].set_index("population")
    assert rd.loc["trial:T5", "true_RD"] == pytest.approx(-0.27513)
    assert rd["mean"].between(-1, 1).all()
    loo = pd.read_csv(out / "loo_compare.csv", index_col=0)
    assert loo.loc["RI-S", "n_obs"] == 1200 + 4       # patients + aggregate arms
    assert "Population-adjusted effects" in (out / "report.md").read_text()
    assert any("aggregate data: 2 trials" in m for m in messages)


def test_spec_errors(tmp_path):
    data = {"aggregate": str(ROOT / "models" / "data" / "ipd_ad_demo" / "aggregate.csv")}
    with pytest.raises(SpecError, match="needs \\[data\\] aggregate_covariates"):
        load_aggregate(data, {}, spec_dir=tmp_path)
    with pytest.raises(SpecError, match="'integration_points' applies to aggregate"):
        load_aggregate({}, {"integration_points": 32}, spec_dir=tmp_path)
    both = data | {"aggregate_covariates": "missing.csv"}
    with pytest.raises(Exception, match="missing.csv"):
        load_aggregate(both, {}, spec_dir=tmp_path)
    text = _shrunk(tmp_path).replace("compare = false", 'compare = true\ncv = "iecv"')
    spec = tmp_path / "iecv.toml"
    spec.write_text(text)
    with pytest.raises(SpecError, match="cv = 'iecv' refits on the IPD alone"):
        run_spec(spec, log=lambda m: None)


def test_loo_view_without_aggregate_is_unchanged():
    import xarray as xr

    tree = xr.DataTree.from_dict({"log_likelihood": xr.Dataset(
        {"y": (("chain", "draw", "patient"), [[[0.0, 1.0]]])})})
    assert loo_view(tree) is tree

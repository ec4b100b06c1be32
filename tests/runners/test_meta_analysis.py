"""``bayes-hte run`` with family "meta_analysis": the BCG spec, metafor's numbers, errors.

Reference numbers: R metafor in tests/data/metafor_bcg.json (validation/metafor_reference.R;
R 4.2.2, metafor 3.8-1):
``dat <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg);
rma(yi, vi, data = dat, method = <method>, test = "z" | "knha")``, ``predict`` and
``confint`` (the file's "call" fields).
"""

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bayes_hte as bh
from bayes_hte.cli import main
from bayes_hte.errors import DataError
from bayes_hte.runners import FAMILIES
from bayes_hte.runners.schema import SpecError
from bayes_hte.spec import run_spec
from tests._helpers import assert_csv_columns_named, reference

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "models" / "meta_analysis_bcg.toml"
_BCG = reference("metafor_bcg")
METAFOR = {(f["method"], f["test"] == "knha"): f for f in _BCG["rma"]["fits"]}


def quiet(_msg):
    pass


def shipped(tmp_path: Path, *, bayesian: bool, replace: dict | None = None) -> Path:
    """The shipped BCG spec, with a small sampler (or no Bayesian model) and edits."""
    text = SPEC.read_text()
    text = text.replace("draws = 1000", "draws = 150").replace("tune = 1000", "tune = 200")
    text = text.replace("chains = 4", "chains = 2")
    if not bayesian:
        text = text.replace("bayesian = true", "bayesian = false").replace(
            "bayesian_causal = true", "bayesian_causal = false")
    for old, new in (replace or {}).items():
        assert old in text, old
        text = text.replace(old, new)
    p = tmp_path / "bcg.toml"
    p.write_text(text)
    return p


def spec_text(data: str, model: str = "", *, out: Path) -> str:
    return (f"[data]\n{data}\n\n[model]\nfamily = \"meta_analysis\"\nbayesian = false\n"
            f"bayesian_causal = false\n{model}\n\n[output]\ndir = \"{out}\"\n")


def run_text(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "spec.toml"
    p.write_text(text)
    return run_spec(p, log=quiet)


def _row(tab: pd.DataFrame, approach: str, method: str, measure: str = "RR") -> pd.Series:
    sel = tab[(tab["approach"] == approach) & (tab["method"] == method)
              & (tab["measure"] == measure)]
    assert len(sel) == 1, (approach, method, measure)
    return sel.iloc[0]


def _check_metafor(tab: pd.DataFrame) -> None:
    """REML, DL (z and HKSJ) and the other methods equal metafor's numbers."""
    for (method, knha), ref in METAFOR.items():
        label = f"{method}{' + HKSJ' if knha else ''}"
        if method == "FE" and knha:
            continue                      # the runner adds HKSJ to random-effects models
        r = _row(tab, "classical", label)
        for ours, theirs in (("estimate", "estimate"), ("se", "se"), ("statistic", "stat"),
                             ("tau2", "tau2"), ("i2", "i2"), ("h2", "h2"), ("q", "q")):
            assert r[ours] == pytest.approx(ref[theirs], rel=1e-6, abs=1e-12), (label, ours)
        assert r["p"] == pytest.approx(ref["p"], rel=1e-5)
        np.testing.assert_allclose([r["ci_low"], r["ci_high"]], ref["ci"], rtol=1e-6)
        if method != "FE":
            np.testing.assert_allclose([r["pi_low"], r["pi_high"]], ref["pi"], rtol=1e-6)
            np.testing.assert_allclose([r["tau2_ci_low"], r["tau2_ci_high"]],
                                       ref["tau2_ci"], rtol=1e-6)
        assert r["natural_estimate"] == pytest.approx(np.exp(ref["estimate"]), rel=1e-6)


def test_family_registered():
    assert FAMILIES["meta_analysis"] == "bayes_hte.runners.meta_analysis:run"


def test_bcg_dataset():
    d = bh.datasets.bcg()
    assert list(d.columns[:9]) == ["trial", "author", "year", "tpos", "tneg", "cpos", "cneg",
                                   "ablat", "alloc"]
    assert len(d) == 13 and d["study"].is_unique
    data = _BCG["data"]
    assert list(d["study"]) == data["study"]
    for ours, theirs in (("tpos", "n11"), ("tneg", "n10"), ("cpos", "n01"), ("cneg", "n00")):
        assert d[ours].tolist() == data[theirs]
    # dat.bcg: ablat and alloc of the first and last trials
    assert d[["ablat", "alloc"]].iloc[0].tolist() == [44, "random"]
    assert d[["ablat", "alloc"]].iloc[-1].tolist() == [33, "systematic"]


def test_bcg_spec_runs_with_bayesian_models(tmp_path):
    lines = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = run_spec(shipped(tmp_path, bayesian=True), log=lines.append,
                       outdir=tmp_path / "out")
    # the fits' health is logged, not raised as bh.ConvergenceWarning (2 x 150 draws)
    assert not [w for w in caught if issubclass(w.category, bh.ConvergenceWarning)]
    assert sum(" divergences, max R-hat " in line for line in lines) == 2
    assert_csv_columns_named(out)
    for f in ("comparison.csv", "studies.csv", "printout.txt", "forest.png",
              "comparison_forest.png", "posteriors/meta_analysis.nc", "posteriors/causal.nc",
              "bayesian_parameters.csv", "sampling.csv", "report.md", "report.html"):
        assert (out / f).exists(), f
    tab = pd.read_csv(out / "comparison.csv")
    _check_metafor(tab)
    assert set(tab["approach"]) == {"classical", "causal", "Bayesian", "Bayesian causal"}
    assert set(tab.loc[tab["approach"] == "Bayesian causal", "measure"]) == {"RD", "RR", "OR"}
    # the Bayesian normal-normal answer sits near REML; the Bayesian causal near the
    # frequentist causal estimate (both on the log RR scale)
    reml = _row(tab, "classical", "REML")
    bayes = tab[tab["approach"] == "Bayesian"].iloc[0]
    assert abs(bayes["estimate"] - reml["estimate"]) < 0.1
    assert bayes["pi_low"] < reml["estimate"] < bayes["pi_high"]
    causal = _row(tab, "causal", "variance delta")
    bc = tab[(tab["approach"] == "Bayesian causal") & (tab["measure"] == "RR")].iloc[0]
    assert abs(bc["estimate"] - causal["estimate"]) < 2 * causal["se"]
    text = (out / "printout.txt").read_text()
    assert "== Bayesian: normal-normal ==" in text and "== Bayesian: causal ==" in text
    assert "Random-Effects Model (k = 13; tau^2 estimator: REML)" in text
    studies = pd.read_csv(out / "studies.csv", index_col=0)
    np.testing.assert_allclose(studies["yi"], _BCG["escalc"]["RR"]["yi"], rtol=1e-9)
    assert studies["weight_REML"].sum() == pytest.approx(100.0)


def test_bcg_spec_via_cli_without_bayes(tmp_path, capsys):
    spec = shipped(tmp_path, bayesian=False)
    assert main(["run", str(spec), "--out", str(tmp_path / "out")]) == 0
    out = tmp_path / "out"
    tab = pd.read_csv(out / "comparison.csv")
    _check_metafor(tab)
    assert not (out / "posteriors" / "meta_analysis.nc").exists()
    text = (out / "printout.txt").read_text()
    # REML as metafor's print.rma prints it (rounded to 4 decimals; tests/data/metafor_bcg.json)
    for s in ("-0.7145", "0.1798", "-3.9744", "-1.0669", "-0.3622", "-1.8667 to 0.4376",
              "0.3132", "0.5597", "92.22%", "12.86", "Q = 152.2330 on 12 df"):
        assert s in text, s
    assert "RR 0.4894 (0.3441 to 0.6962)" in capsys.readouterr().out


def test_effect_sizes_from_csv(tmp_path):
    esc = _BCG["escalc"]["RR"]
    frame = pd.DataFrame({"trial": _BCG["data"]["study"], "yi": esc["yi"], "vi": esc["vi"]})
    frame["sei"] = np.sqrt(frame["vi"])
    frame.to_csv(tmp_path / "bcg_yi.csv", index=False)
    out = run_text(tmp_path, spec_text('source = "bcg_yi.csv"\nstudy = "trial"\nyi = "yi"\n'
                                       'se = "sei"', 'measure = "RR"', out=tmp_path / "out"))
    tab = pd.read_csv(out / "comparison.csv")
    _check_metafor(tab)
    assert set(tab["approach"]) == {"classical"}     # no counts: no causal analyses
    assert (tab["scale"] == "log").all()             # measure RR: log scale by default


def test_events_and_totals_and_or(tmp_path):
    d = bh.datasets.bcg()
    frame = pd.DataFrame({"study": d["study"], "e1": d["tpos"], "n1": d["tpos"] + d["tneg"],
                          "e0": d["cpos"], "n0": d["cpos"] + d["cneg"]})
    frame.to_csv(tmp_path / "events.csv", index=False)
    out = run_text(tmp_path, spec_text(
        'source = "events.csv"\nevents1 = "e1"\ntotal1 = "n1"\nevents0 = "e0"\n'
        'total0 = "n0"', 'measure = "OR"\nmethods = ["REML"]\nhksj = false\ncausal = ["OR"]',
        out=tmp_path / "out"))
    tab = pd.read_csv(out / "comparison.csv")
    ref = next(f for f in _BCG["rma_other"]["fits"]
               if f["measure"] == "OR" and f["method"] == "REML")
    reml = _row(tab, "classical", "REML", "OR")
    assert reml["estimate"] == pytest.approx(ref["estimate"], rel=1e-6)
    assert reml["tau2"] == pytest.approx(ref["tau2"], rel=1e-6)
    assert list(tab["approach"]) == ["classical", "causal"]


@pytest.mark.parametrize("data,model,error,match", [
    # unknown keys are named
    ('n11 = "tpos"\nn10 = "tneg"\nn01 = "cpos"\nn00 = "cneg"', 'measure = "RR"\nmethod = "REML"',
     SpecError, r"\[model\] has unknown keys \['method'\]"),
    ('n11 = "tpos"\nn10 = "tneg"\nn01 = "cpos"\nn00 = "cneg"\ncolumn = "x"', 'measure = "RR"',
     SpecError, r"\[data\] has unknown keys \['column'\]"),
    # a bad value names its key
    ('n11 = "tpos"\nn10 = "tneg"\nn01 = "cpos"\nn00 = "cneg"',
     'measure = "RR"\nmethods = ["REML", "GENQ"]', SpecError, r"\[model\] methods = 'GENQ'"),
    # metafor's EE is FE: asking for both is asking twice
    ('n11 = "tpos"\nn10 = "tneg"\nn01 = "cpos"\nn00 = "cneg"',
     'measure = "RR"\nmethods = ["FE", "EE"]', SpecError,
     r"\[model\] methods .* more than once \(\['FE'\]"),
    ('n11 = "tpos"\nn10 = "tneg"\nn01 = "cpos"\nn00 = "cneg"', 'measure = "SMD"',
     SpecError, r"\[model\] measure = 'SMD'"),
    ('n11 = "tpos"\nn10 = "tneg"\nn01 = "cpos"\nn00 = "cneg"', "",
     SpecError, r"\[model\] needs 'measure'"),
    ('n11 = "tpos"\nn10 = "tneg"\nn01 = "cpos"\nn00 = "cneg"',
     'measure = "RR"\nforest = "REML + HKSJ"\nhksj = false', SpecError, r"forest = 'REML \+ HKSJ'"),
    # column roles: missing, mixed, absent from the data (named)
    ('n11 = "tpos"\nn10 = "tneg"\nn01 = "cpos"', 'measure = "RR"',
     SpecError, r"column roles \['n00'\]"),
    ('n11 = "tpos"\nn10 = "tneg"\nn01 = "cpos"\nn00 = "cneg"\nyi = "y"', 'measure = "RR"',
     SpecError, "one input"),
    ("", 'measure = "RR"', SpecError, "one input"),
    ('n11 = "tpos"\nn10 = "tneg"\nn01 = "cpos"\nn00 = "c_neg"', 'measure = "RR"',
     DataError, r"count column 'c_neg' \(control non-events\) is not in the data"),
    ('n11 = "tpos"\nn10 = "tneg"\nn01 = "cpos"\nn00 = "cneg"\nstudy = "trial_name"',
     'measure = "RR"', DataError, "trial_name"),
    ('yi = "tpos"\nvi = "cpos"', 'measure = "RR"\ncausal = ["RR"]',
     SpecError, r"\[model\] causal needs per-arm counts"),
    ('yi = "tpos"\nvi = "cpos"', 'add = 0.5', SpecError, r"\['add'\] are options of effect"),
    ('yi = "tpos"\nvi = "ablat_x"', "", DataError, "ablat_x"),
    # a value of another type than its default's is refused, not reinterpreted
    ('n11 = "tpos"\nn10 = "tneg"\nn01 = "cpos"\nn00 = "cneg"', 'measure = "RR"\nhksj = "no"',
     SpecError, r"\[model\] hksj must be true or false, got 'no'"),
    ('n11 = "tpos"\nn10 = "tneg"\nn01 = "cpos"\nn00 = "cneg"',
     'measure = "RR"\nhksj = 1', SpecError, r"\[model\] hksj must be true or false, got 1"),
])
def test_bad_specs_name_the_key_or_column(tmp_path, data, model, error, match):
    text = spec_text(f'source = "dataset:bcg"\n{data}', model, out=tmp_path / "out")
    with pytest.raises(error, match=match):
        run_text(tmp_path, text)
    assert not (tmp_path / "out").exists()  # refused: no folder left behind


@pytest.mark.parametrize(("setting", "match"), [
    ("ci_prob = 1.5", r"\[output\] ci_prob \(the confidence level\) must lie in \(0, 1\), "
                      r"got 1.5"),
    ('ci_prob = "95%"', r"\[output\] ci_prob must be a number, got '95%'"),
    ('digits = "four"', r"\[output\] digits must be an integer, got 'four'"),
    ("digits = 2.5", r"\[output\] digits must be an integer, got 2.5"),
])
def test_bad_output_values_are_refused_before_anything_is_written(tmp_path, setting, match):
    text = spec_text('source = "dataset:bcg"\nn11 = "tpos"\nn10 = "tneg"\nn01 = "cpos"\n'
                     'n00 = "cneg"', 'measure = "RR"', out=tmp_path / "out")
    with pytest.raises(SpecError, match=match):
        run_text(tmp_path, text + setting + "\n")
    assert not (tmp_path / "out").exists()


def test_cli_reports_a_bad_column(tmp_path, capsys):
    p = tmp_path / "spec.toml"
    p.write_text(spec_text('source = "dataset:bcg"\nn11 = "tpos"\nn10 = "tneg"\nn01 = "x"\n'
                           'n00 = "cneg"', 'measure = "RR"', out=tmp_path / "out"))
    assert main(["run", str(p)]) == 2
    assert "count column 'x'" in capsys.readouterr().err


_METAREG = reference("metafor_bcg_metareg")


def test_moderators_give_each_classical_fit_its_meta_regression(tmp_path):
    """The shipped spec's moderators = ["ablat"]: metaregression.csv, the printout and the
    report hold rma(yi, vi, mods = ~ ablat, method = ..., test = "z" | "knha")'s numbers
    (tests/data/metafor_bcg_metareg.json, metafor 3.8-1)."""
    out = run_spec(shipped(tmp_path, bayesian=False), log=quiet, outdir=tmp_path / "out")
    tab = pd.read_csv(out / "metaregression.csv")
    assert_csv_columns_named(out)
    assert set(tab["method"]) == {"FE", "DL", "DL + HKSJ", "REML", "REML + HKSJ", "PM",
                                  "PM + HKSJ", "ML", "ML + HKSJ"}
    for key, label in [("ablat_REML", "REML"), ("ablat_REML_knha", "REML + HKSJ"),
                       ("ablat_ML", "ML"), ("ablat_DL", "DL"), ("ablat_PM", "PM"),
                       ("ablat_FE", "FE")]:
        ref, rows = _METAREG[key], tab[tab["method"] == label]
        assert rows["coefficient"].tolist() == ref["names"]
        for ours, theirs in (("estimate", "beta"), ("se", "se"), ("statistic", "stat"),
                             ("p", "pval"), ("ci_low", "ci_lb"), ("ci_high", "ci_ub")):
            np.testing.assert_allclose(rows[ours], ref[theirs], rtol=1e-6, err_msg=label)
        for ours, theirs in (("tau2", "tau2"), ("qe", "QE"), ("qm", "QM"), ("qm_p", "QMp"),
                             ("i2", "I2")):
            assert rows[ours].iloc[0] == pytest.approx(ref[theirs], rel=1e-6, abs=1e-12)
    text = (out / "printout.txt").read_text()
    assert "== Meta-regression: REML + HKSJ ==" in text
    assert "Test of the moderators (ablat): F(1, 11) = 12.5910" in text
    assert "Meta-regression" in (out / "report.md").read_text()
    assert (out / "bubble_ablat.png").exists()


@pytest.mark.parametrize(("moderators", "error", "match"), [
    ('["nope"]', DataError, r"moderator column 'nope' is not in the data frame"),
    ("[1]", SpecError, r"\[model\] moderators must be distinct column names"),
    ('["ablat", "ablat"]', SpecError, r"\[model\] moderators must be distinct"),
])
def test_bad_moderators_are_refused_naming_them(tmp_path, moderators, error, match):
    spec = shipped(tmp_path, bayesian=False,
                   replace={'moderators = ["ablat"]': f"moderators = {moderators}"})
    with pytest.raises(error, match=match):
        run_spec(spec, log=quiet, outdir=tmp_path / "out")


def test_moderators_follow_their_studies_when_a_double_zero_study_is_dropped(tmp_path):
    """A study dropped by escalc's drop00 takes its moderator row with it: the fit equals
    meta_regression on the kept studies' own values."""
    d = bh.datasets.bcg()
    frame = pd.DataFrame({"study": d["study"], "e1": d["tpos"], "n1": d["tpos"] + d["tneg"],
                          "e0": d["cpos"], "n0": d["cpos"] + d["cneg"], "lat": d["ablat"]})
    frame.loc[2, ["e1", "e0"]] = 0          # the third trial: no events in either arm
    frame.to_csv(tmp_path / "events.csv", index=False)
    out = run_text(tmp_path, spec_text(
        'source = "events.csv"\nevents1 = "e1"\ntotal1 = "n1"\nevents0 = "e0"\n'
        'total0 = "n0"', 'measure = "RR"\nmethods = ["REML"]\nhksj = false\ncausal = []\n'
        'drop_double_zero = true\nmoderators = ["lat"]', out=tmp_path / "out"))
    tab = pd.read_csv(out / "metaregression.csv")
    kept = frame.drop(index=2)
    eff = bh.ArmTable.from_events(kept, events1="e1", total1="n1", events0="e0",
                                  total0="n0", study="study").effects("RR")
    ref = bh.comparators.meta_regression(eff, mods=kept["lat"].to_numpy())
    np.testing.assert_allclose(tab["estimate"], ref.beta, rtol=1e-10)
    assert tab["coefficient"].tolist() == ["intrcpt", "lat"]
    report = (out / "report.md").read_text()  # the report says which study was left out
    # (the spec names no study column: the frame's column "study" labels the studies, as
    # for cell counts; no causal analysis asked for)
    assert ("Left out of the effect sizes as double zeros (no event in either arm): "
            "Rosenthal et al 1960.") in report
    # without a "study" column, the row label
    frame.drop(columns="study").to_csv(tmp_path / "events.csv", index=False)
    out = run_text(tmp_path, spec_text(
        'source = "events.csv"\nevents1 = "e1"\ntotal1 = "n1"\nevents0 = "e0"\n'
        'total0 = "n0"', 'measure = "RR"\nmethods = ["REML"]\nhksj = false\ncausal = []\n'
        'drop_double_zero = true', out=tmp_path / "out2"))
    assert "Left out of the effect sizes as double zeros (no event in either arm): 2." \
        in (out / "report.md").read_text()


def test_a_text_moderator_is_a_factor_and_a_typo_in_a_number_is_named(tmp_path):
    """moderators = ["alloc"] is metafor's factor(alloc); a numeric column with one text
    entry stops the run before any fit, naming the entry and its study."""
    out = run_spec(shipped(tmp_path, bayesian=False,
                           replace={'moderators = ["ablat"]': 'moderators = ["ablat", "alloc"]'}),
                   log=quiet, outdir=tmp_path / "out")
    tab = pd.read_csv(out / "metaregression.csv")
    ref = _METAREG["ablat_alloc_REML"]
    rows = tab[tab["method"] == "REML"]
    assert rows["coefficient"].tolist() == ["intrcpt", "ablat", "alloc[random]",
                                            "alloc[systematic]"]
    np.testing.assert_allclose(rows["estimate"], ref["beta"], rtol=1e-6)
    assert (out / "bubble_ablat.png").exists() and not list(out.glob("bubble_alloc*"))
    d = bh.datasets.bcg().astype({"ablat": object})
    d.loc[4, "ablat"] = "13N"
    d.to_csv(tmp_path / "typo.csv", index=False)
    spec = shipped(tmp_path, bayesian=False, replace={'source = "dataset:bcg"':
                                                       f'source = "{tmp_path / "typo.csv"}"'})
    lines = []
    with pytest.raises(DataError, match=r"moderator 'ablat' is text, but 12 of 13 values read "
                                        r"as numbers; '13N' at row Frimodt-Moller et al 1973"):
        run_spec(spec, log=lines.append, outdir=tmp_path / "out2")
    assert not any("REML:" in line for line in lines)   # refused before the fits


def test_a_formula_as_a_moderator_says_formulas_are_not_read(tmp_path):
    spec = shipped(tmp_path, bayesian=False,
                   replace={'moderators = ["ablat"]': 'moderators = ["ablat:year"]'})
    with pytest.raises(SpecError, match=r"'ablat:year' is not a column; formulas are not read"):
        run_spec(spec, log=quiet, outdir=tmp_path / "out")

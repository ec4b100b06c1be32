"""The example notebooks in examples/ run from top to bottom (each executed once)."""

import os
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run_notebook(name: str, tmp_path: Path, *, timeout: int = 600) -> list[dict]:
    """Execute ``examples/<name>`` in `tmp_path` (the kernel gets this process's
    environment) and return the outputs of its code cells, none of them a
    ``bh.ConvergenceWarning``; with ``BH_EXECUTED_NOTEBOOKS``
    set, also write the executed notebook there, for the docs build (docs/conf.py)."""
    nb = nbformat.read(EXAMPLES / name, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute(env=dict(os.environ))
    if os.environ.get("BH_EXECUTED_NOTEBOOKS"):     # .ci/run: the docs build reuses them
        out = Path(os.environ["BH_EXECUTED_NOTEBOOKS"])
        out.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, out / name)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    # the docs show these notebooks: every fit in them meets the convergence targets
    warned = [o["text"] for o in outputs if o.get("name") == "stderr"
              and "ConvergenceWarning" in o.get("text", "")]
    assert not warned, warned
    return outputs


def small_sampler(monkeypatch, draws: str) -> None:
    """Small sampler settings of the notebooks (2 PyMC chains, `draws` draws), inline plots."""
    for key, value in {"BH_EXAMPLE_DRAWS": draws, "BH_EXAMPLE_CHAINS": "2",
                       "BH_EXAMPLE_SAMPLER": "pymc",
                       "MPLBACKEND": "module://matplotlib_inline.backend_inline"}.items():
        monkeypatch.setenv(key, value)


def test_ipdma_notebook_executes(tmp_path, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    outputs = run_notebook("ipdma_binary.ipynb", tmp_path, timeout=900)
    errors = [o for o in outputs if o.get("output_type") == "error"]
    assert not errors


def test_subgroup_notebook_runs(tmp_path, monkeypatch):
    """4 nutpie chains (the defaults) of 500 draws: enough for the convergence targets
    (no bh.ConvergenceWarning in the executed notebook, which the docs show)."""
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    monkeypatch.setenv("BH_EXAMPLE_DRAWS", "500")
    outputs = run_notebook("subgroup_hte.ipynb", tmp_path)
    assert not [o for o in outputs if o.get("output_type") == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == 2      # CATE by risk quintile + trace plots
    text = "".join(o.get("text", "") for o in outputs)
    html = "".join(o.get("data", {}).get("text/html", "") for o in outputs)
    assert "divergences:" in text and "posterior mean of sigma_eta" in text
    for label in ("Q1", "Q5", "true_mean_cate", "patient_ci_low", "r_hat_classic", "chain_2"):
        assert label in html, label


def test_two_step_notebook_runs(tmp_path, monkeypatch):
    small_sampler(monkeypatch, draws="150")
    outputs = run_notebook("two_step_longitudinal.ipynb", tmp_path)
    assert not [o for o in outputs if o.get("output_type") == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == 2      # forest plot per coefficient + side-by-side comparison
    text = "".join(o.get("text", "") for o in outputs)
    assert "trials," in text and "divergences:" in text


def test_ipd_aggregate_notebook_runs(tmp_path, monkeypatch):
    # the notebook's own settings (nutpie, 2 chains x 500 draws): the path users take
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    outputs = run_notebook("ipd_aggregate.ipynb", tmp_path)
    assert not [o for o in outputs if o.get("output_type") == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == 1      # posterior of the target RD with MAIC / STC / truth
    text = "".join(o.get("text", "") for o in outputs)
    html = "".join(o.get("data", {}).get("text/html", "") for o in outputs)
    number = r"(-?\d+\.\d+)"
    # the truth is the Monte Carlo integral of docs/ipd_aggregate.md ("Measured results")
    assert re.search(r"true target RD: -0\.258\b", text)
    mean, low, high = map(float, re.search(
        rf"target RD \(average trial\): {number} \[{number}, {number}\]", text).groups())
    assert low < mean < high and low <= -0.258 <= high
    ess, n_ipd = map(float, re.search(r"MAIC ESS: (\d+) of (\d+) IPD patients", text).groups())
    assert n_ipd == 1200 and 0 < ess < n_ipd
    points, more, change = re.search(
        rf"integration check: (\d+) vs (\d+) points; largest change {number} posterior SD",
        text).groups()
    assert (int(points), int(more)) == (64, 128) and 0 <= float(change) < 1
    assert float(re.search(rf"max R-hat {number}", text).group(1)) < 1.05
    for label in ("change_sd", "true_rd", "observed_rd", "Bayesian IPD + AgD (new trial)",
                  "MAIC", "STC", "covers truth", "plug-in at the means"):
        assert label in html, label


if __name__ == "__main__":  # pragma: no cover
    pytest.main([__file__])

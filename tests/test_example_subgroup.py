"""Execute examples/subgroup_hte.ipynb (small sampler settings)."""

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "subgroup_hte.ipynb"


def test_subgroup_notebook_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("BH_EXAMPLE_DRAWS", "250")
    monkeypatch.setenv("BH_EXAMPLE_CHAINS", "2")
    monkeypatch.setenv("BH_EXAMPLE_SAMPLER", "pymc")
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute(env=dict(os.environ))
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == 2      # CATE by risk quintile + trace plots
    text = "".join(o.get("text", "") for o in outputs)
    html = "".join(o.get("data", {}).get("text/html", "") for o in outputs)
    assert "divergences:" in text and "posterior mean of sigma_eta" in text
    for label in ("Q1", "Q5", "true_mean_cate", "patient_ci_low", "r_hat_classic", "chain_2"):
        assert label in html, label


if __name__ == "__main__":  # pragma: no cover
    pytest.main([__file__])

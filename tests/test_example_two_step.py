"""Execute examples/two_step_longitudinal.ipynb (small sampler settings)."""

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "two_step_longitudinal.ipynb"


def test_two_step_notebook_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("BH_EXAMPLE_DRAWS", "150")
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
    assert len(images) == 2      # forest plot per coefficient + side-by-side comparison
    text = "".join(o.get("text", "") for o in outputs)
    assert "trials," in text and "divergences:" in text


if __name__ == "__main__":  # pragma: no cover
    pytest.main([__file__])

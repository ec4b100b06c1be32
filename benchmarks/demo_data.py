"""The data of the demo spec (``models/ipdma_binary_demo.toml``), read through the spec's
own ``[data]`` table as ``bayes-hte run`` reads it: Bouvier et al. (2024) design, 7
trials x 400 patients, 3 covariates, seed 1. Shared by the benchmarks that time the
demo's models."""

from __future__ import annotations

from pathlib import Path

from bayes_hte import IPDData
from bayes_hte.runners.base import load_ipd
from bayes_hte.spec import load_spec

SPEC = Path(__file__).resolve().parents[1] / "models" / "ipdma_binary_demo.toml"


def demo_data() -> IPDData:
    """The demo spec's patients as the job's container (``IPDData``)."""
    data, _, _ = load_ipd(load_spec(SPEC)["data"], family="ipdma", spec_dir=SPEC.parent)
    return data

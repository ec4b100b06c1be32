"""Posterior-mean ITE against the true ITE, binary and time-to-event (one data set each).

Random-intercept S-learner on the Bouvier et al. (2024) design (7 trials x 400
patients, 3 covariates, seed 1): binary outcome (ITE = risk difference) and Weibull
time-to-event (ITE = survival difference at the median follow-up). Writes
``docs/figures/ipdma_ite_vs_truth.png``:

    python validation/ipdma_ite_figure.py
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import bayes_hte as bh  # noqa: E402
from bayes_hte import plots  # noqa: E402
from bayes_hte.simulate.bouvier2024 import bouvier2024  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "docs" / "figures" / "ipdma_ite_vs_truth.png"


def main() -> None:
    fig, axes = plt.subplots(1, 2, figsize=(8, 4))
    for ax, outcome in zip(axes, ["binary", "time_to_event"], strict=True):
        sim = bouvier2024(trials=7, patients_per_trial=400, covariates=3, seed=1,
                          outcome=outcome)
        tte = outcome == "time_to_event"
        data = bh.IPDData.from_frame(sim.data, outcome="event" if tte else "y",
                                     treatment="treat", study="trial",
                                     covariates=sim.covariates, time="time" if tte else None)
        m = bh.IPDMetaModel(heterogeneity="random_intercept", learner="s", outcome=outcome)
        m.fit(data, draws=1000, tune=1000, chains=4, random_seed=1, log_likelihood=False,
              posterior_predictive=False)
        label = ("survival difference at the median follow-up" if tte
                 else "risk difference")
        plots.plot_ite_vs_truth(m.ite(), sim.data["true_ite_average"].to_numpy(), ax=ax,
                                title=f"RI-S, {outcome}:")
        ax.set_xlabel(f"true ITE ({label})", fontsize=8)
    fig.tight_layout()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(OUT, dpi=100)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()

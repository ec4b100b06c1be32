"""Shared test set-up: every test starts with no matplotlib figure open."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    """Close the figures a test leaves open, so tests stay independent (and memory flat)."""
    yield
    plt.close("all")

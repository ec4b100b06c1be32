"""Validated data containers and bundled data sets."""

from bayes_hte.data.aggregate import ArmTable, EffectTable  # noqa: F401
from bayes_hte.data.ipd import IPDData
from bayes_hte.data.longitudinal import LongitudinalData
from bayes_hte.data.means import MeanTable
from bayes_hte.data.summaries import CovariateSummary

__all__ = ["CovariateSummary", "IPDData", "LongitudinalData"]
__all__ += ["ArmTable", "EffectTable", "MeanTable"]

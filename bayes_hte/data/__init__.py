"""Validated data containers and bundled data sets."""

from bayes_hte.data.ipd import IPDData
from bayes_hte.data.longitudinal import LongitudinalData
from bayes_hte.data.summaries import CovariateSummary

__all__ = ["CovariateSummary", "IPDData", "LongitudinalData"]

"""Validated data containers and bundled data sets."""

from bayes_hte.data.ipd import IPDData
from bayes_hte.data.longitudinal import LongitudinalData

__all__ = ["IPDData", "LongitudinalData"]

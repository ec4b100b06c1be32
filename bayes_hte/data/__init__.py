"""Validated data containers and bundled data sets."""

from bayes_hte.data.ipd import IPDData

__all__ = ["IPDData"]

"""Frequentist comparators: numpy cores vectorised over a trailing replicate axis."""

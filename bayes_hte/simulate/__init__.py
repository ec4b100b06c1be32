"""Data-generating processes of the seed papers; each returns the data AND the truth."""

"""PyMC model factories, one module per family (pure functions returning ``pm.Model``)."""

"""Evaluation of ITE models: discrimination and calibration for benefit, MSE, PAPE, IECV."""

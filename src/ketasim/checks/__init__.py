"""Input checks shared by one-patient simulation and trials: dose ceilings, size limits, plausibility flags."""

"""Virtual populations, trials, endpoints, validation, calibration, scale-out."""

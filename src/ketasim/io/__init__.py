"""Foundations with no knowledge of the model: units, reading TOML, JSON-safe values."""

"""The mechanism: drugs and PK, the layers, the assembled vector field."""

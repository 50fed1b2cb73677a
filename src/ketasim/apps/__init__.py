"""User-facing applications: the command line, figures, reports."""

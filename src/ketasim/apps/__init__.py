"""User-facing applications: the command line, figures, reports, the web explorer and the run store.

Research software, not a medical device: it informs; it does not prescribe.
"""

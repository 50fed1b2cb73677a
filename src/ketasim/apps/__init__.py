"""Applications on top of the public API: the web explorer, the run store and self-contained reports.

Research software, not a medical device: it informs; it does not prescribe.
"""

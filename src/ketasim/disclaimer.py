"""The research-software disclaimer, in one place for the CLI, reports, JSON and figures."""

DISCLAIMER = ("ketasim is research software, not a medical device: it informs, it does not prescribe; "
              "simulated scores are not predictions for any real patient.")

#: short form for figure footers
FIGURE_FOOTER = "ketasim: research software, not a medical device"

"""`python -m ketasim`: the command line (see ketasim._cli)."""

from ._cli import main

raise SystemExit(main())

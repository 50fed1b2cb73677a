"""`python -m ketasim`: the command line (see ketasim.apps.cli)."""

from ketasim.apps.cli import main

raise SystemExit(main())

"""`python -m notifier` runs the command line."""

from notifier.cli import main

raise SystemExit(main())

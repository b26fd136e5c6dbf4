"""`python -m notifier` runs the command line."""

from notifier.cli import main

if __name__ == "__main__":
    raise SystemExit(main())

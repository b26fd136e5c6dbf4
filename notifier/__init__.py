"""The notifier: emergency notification for an organisation of many duty stations."""

__version__ = "0.1.0"

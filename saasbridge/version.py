"""The saasbridge version (its own module, so a connector reads it without the package's notebook helpers)."""

__version__ = "0.1.0"

"""sqlforge: a reproducible DVC pipeline for training text-to-SQL models."""

__version__ = "0.1.0"

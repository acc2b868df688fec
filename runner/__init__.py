"""A declarative pipeline runner driven by YAML files kept in git."""

__version__ = "0.1.0"

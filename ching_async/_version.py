__version__ = "0.1.0"
"""The package's version (the one source: pyproject.toml reads it from here)."""

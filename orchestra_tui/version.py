"""The package's version, in a module of its own so that every layer can name it without importing the
package's lazy re-exports of the seed's API (``orchestra_tui/__init__.py``)."""

__version__ = "0.1.0"

"""The exception raised for arguments a sample product cannot be made from."""

from __future__ import annotations


class SampleProductError(ValueError):
    """A sample product cannot be made from these arguments; the message names the argument."""

"""The inference engine's exceptions: one hierarchy, translated at the boundaries.

``ProductError`` means the input product itself is unusable (the ingest pipeline fails the job
once, without retrying); ``ModelCardError`` means the model card or its ONNX file is; every
other ``InferenceError`` is a fault of the engine or its environment.
"""

from __future__ import annotations


class InferenceError(Exception):
    """Base class of every error raised by :mod:`inference`."""


class ProductError(InferenceError):
    """The source product cannot be read: bad, incomplete or unsupported input."""

    def __init__(self, product: str, problem: str) -> None:
        self.product = product
        self.problem = problem
        super().__init__(f"{product}: {problem}")


class ModelCardError(InferenceError):
    """A model card is invalid, its ONNX file is missing, or it does not fit the product."""

    def __init__(self, card: str, problem: str) -> None:
        self.card = card
        self.problem = problem
        super().__init__(f"model card {card}: {problem}")

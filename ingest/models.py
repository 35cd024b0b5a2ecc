"""Which model a job uses: the card's id names the job, the card reference loads it in workers.

Without ``--model`` each product gets the inference engine's default card for its level
(``KAPPACAT_INFERENCE_DEFAULT_CARD_L1C`` / ``_L2A``), so jobs stay unique per (product, card).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from catalog.collections import L2A
from ingest.errors import ConfigError
from ingest.jobs import Job
from ingest.pipeline import SourceRef

if TYPE_CHECKING:
    from inference.card import ModelCard

_lock = threading.Lock()
_cards: dict[str, ModelCard] = {}
_settings: list[Any] = []


def inference_settings() -> Any:
    """The inference engine's settings, read once per process."""
    from inference.settings import InferenceSettings

    with _lock:
        if not _settings:
            _settings.append(InferenceSettings())
        return _settings[0]


def load(reference: str) -> ModelCard:
    """A card by shipped id or file path, loaded once per process."""
    from inference.card import load_card

    with _lock:
        if reference not in _cards:
            _cards[reference] = load_card(reference)
        return _cards[reference]


class ModelChoice:
    """The card each submitted product gets: one named card, or the default for its level."""

    def __init__(self, reference: str | None = None) -> None:
        from inference.errors import InferenceError

        self.fixed: tuple[str, str] | None = None
        if reference is not None:
            path = Path(reference).expanduser()
            # A file is recorded by its absolute path: workers elsewhere need it there too.
            ref = str(path.resolve()) if path.is_file() else reference
            try:
                self.fixed = (load(ref).id, ref)
            except InferenceError as exc:
                raise ConfigError(str(exc)) from exc

    def __call__(self, source: SourceRef) -> tuple[str, str]:
        """(model id, card reference) for one product."""
        from inference.errors import InferenceError

        if self.fixed is not None:
            return self.fixed
        settings = inference_settings()
        ref = settings.default_card_for("L2A" if source.collection == L2A else "L1C")
        try:
            return load(ref).id, ref
        except InferenceError as exc:
            raise ConfigError(f"default model card: {exc}") from exc


def card_for_job(job: Job) -> ModelCard:
    """The loaded model card of a job."""
    return load(job.model_card or job.model)

"""onnxruntime sessions for model cards: providers, threads, batching, output probabilities."""

from __future__ import annotations

import functools
import os

import numpy as np
import onnxruntime as ort
from onnxruntime.capi import onnxruntime_pybind11_state as ort_state

from inference.card import ModelCard
from inference.errors import InferenceError, ModelCardError
from inference.settings import InferenceSettings


def resolve_providers(spec: str) -> list[str]:
    """Execution providers from a setting: "auto" (CUDA when available, else CPU) or a list."""
    available = ort.get_available_providers()
    if spec.strip().lower() == "auto":
        if "CUDAExecutionProvider" in available:
            return ["CUDAExecutionProvider", "CPUExecutionProvider"]
        return ["CPUExecutionProvider"]
    wanted = [p.strip() for p in spec.split(",") if p.strip()]
    unknown = [p for p in wanted if p not in available]
    if unknown or not wanted:
        raise InferenceError(
            f"execution provider(s) {', '.join(unknown) or '(none)'} not available; "
            f"onnxruntime offers {', '.join(available)}"
        )
    return wanted


_LOAD_ERRORS = (
    ort_state.Fail,
    ort_state.InvalidProtobuf,
    ort_state.NoSuchFile,
    ort_state.InvalidGraph,
    ort_state.InvalidArgument,
    RuntimeError,
    OSError,
)


@functools.lru_cache(maxsize=4)
def _session(
    path: str, mtime: float, providers: tuple[str, ...], threads: int, spin: bool
) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    return ort.InferenceSession(path, sess_options=options, providers=list(providers))


class ModelSession:
    """Runs a card's ONNX model on batches of normalised tiles, returning class probabilities."""

    def __init__(self, card: ModelCard, settings: InferenceSettings | None = None) -> None:
        settings = settings or InferenceSettings()
        self.card = card
        self.batch_size = settings.batch_size
        providers = tuple(resolve_providers(settings.providers))
        with card.onnx_file() as path:
            try:
                self.session = _session(
                    str(path), os.path.getmtime(path), providers, settings.threads, settings.spin
                )
            except _LOAD_ERRORS as exc:
                raise ModelCardError(card.id, f"cannot load ONNX model {path}: {exc}") from exc
        self.providers = self.session.get_providers()
        inputs = self.session.get_inputs()
        self.input_name = inputs[0].name
        self._check_shape(inputs[0].shape)

    def _check_shape(self, shape: list[int | str | None]) -> None:
        card = self.card
        if len(shape) != 4:
            raise ModelCardError(card.id, f"model input has rank {len(shape)}, expected 4")
        channel_axis = 1 if card.input_layout == "NCHW" else 3
        spatial = [shape[2], shape[3]] if card.input_layout == "NCHW" else [shape[1], shape[2]]
        channels = shape[channel_axis]
        if isinstance(channels, int) and channels != len(card.bands):
            raise ModelCardError(
                card.id, f"model takes {channels} channels, the card lists {len(card.bands)} bands"
            )
        if any(isinstance(s, int) and s != card.tile_size for s in spatial):
            raise ModelCardError(
                card.id, f"model takes {spatial} px tiles, the card says {card.tile_size}"
            )

    def predict(self, tiles: np.ndarray) -> np.ndarray:
        """Probabilities (n, classes, h, w) float32 for normalised tiles (n, bands, h, w)."""
        out = []
        for start in range(0, len(tiles), self.batch_size):
            batch = np.ascontiguousarray(tiles[start : start + self.batch_size], dtype=np.float32)
            if self.card.input_layout == "NHWC":
                batch = np.ascontiguousarray(batch.transpose(0, 2, 3, 1))
            try:
                result = self.session.run(None, {self.input_name: batch})[0]
            except (ort_state.Fail, ort_state.InvalidArgument, ort_state.RuntimeException) as exc:
                raise ModelCardError(self.card.id, f"the model failed on a batch: {exc}") from exc
            raw = np.asarray(result, dtype=np.float32)
            out.append(self._probabilities(raw))
        return np.concatenate(out) if out else np.zeros((0,), dtype=np.float32)

    def _probabilities(self, raw: np.ndarray) -> np.ndarray:
        n_classes = len(self.card.classes)
        if raw.ndim != 4:
            raise ModelCardError(self.card.id, f"model output has rank {raw.ndim}, expected 4")
        if raw.shape[1] != n_classes and raw.shape[3] == n_classes:
            raw = raw.transpose(0, 3, 1, 2)  # NHWC output
        if raw.shape[1] != n_classes:
            raise ModelCardError(
                self.card.id,
                f"model outputs {raw.shape[1]} channels, the card has {n_classes} classes",
            )
        if self.card.output_activation == "softmax":
            raw = raw - raw.max(axis=1, keepdims=True)
            np.exp(raw, out=raw)
            raw /= raw.sum(axis=1, keepdims=True)
        return np.ascontiguousarray(raw, dtype=np.float32)

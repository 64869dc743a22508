"""Which implementation runs the hidden layer's time loops (`model.backend`): resolved here and nowhere else.

- "torch": the PyTorch loops of `recurrence` and `eventprop`, the reference; they run on any device.
- "compiled": the compiled, event-driven CPU loops (`compiled_recurrence`, `compiled_eventprop`): the same spikes
  and gradients to float rounding, at a cost that follows the spikes and not the delays. CPU tensors only.
- "auto" (the default): compiled on CPU, torch on CUDA.

The backend is how a model is computed, not what it is: it is not part of the model's state, so a checkpoint
written on one backend resumes on the other.
"""

from __future__ import annotations

import torch

from ..config import BACKENDS
from ..errors import ConfigError


def resolve_backend(backend: str, device: torch.device | str) -> str:
    """"torch" or "compiled": the backend a layer on `device` runs with under the setting `backend`."""
    device = torch.device(device)
    if backend not in BACKENDS:
        raise ConfigError(f"invalid value for 'model.backend': {backend!r}; allowed: {', '.join(BACKENDS)}. "
                          f"Fix: set model.backend: auto")
    if backend == "auto":
        return "compiled" if device.type == "cpu" else "torch"
    if backend == "compiled" and device.type != "cpu":
        raise ConfigError(f"model.backend: compiled runs on CPU only, but the model is on {device}. "
                          f"Fix: set model.backend: auto (compiled on CPU, torch on CUDA) or model.backend: torch")
    return backend

"""Start in a sane regime: when the untrained network's hidden rate is off, rescale its input gain; then set
the readout's gain so that the untrained logits are not flat.

The authors' initialisation (weights Normal(0.03, 0.01), Normal(0, 0.02), Normal(0, 0.03) under mlGeNN's input
scaling) is calibrated for SHD's input density, ~10 input spikes per millisecond. On sparser data the hidden
layer starts silent (a 700-channel timing task with 2 Hz background: 0.02 Hz), on denser data saturated, and the
first epochs go to waking neurons up or calming them down, or the run never recovers. `rate_window_hz` names
the regime a run should start in. When the untrained network's mean hidden rate on the first training samples
falls outside it, the input -> hidden gain is multiplied by the smallest change of factor c that brings the rate
just inside (twice the lower edge, or half the upper edge; bisection in log c): on sparse data the strongest
input events, not the background, then make the first spikes. Only the input gain moves because only the input
density differs from SHD's: the recurrent and output layers keep the authors' strength relative to the
threshold (scaling them too made recurrent loops 10x stronger than the authors' on sparse data, and runs ran
away). Multiplying the input gain by c is the same network as the input weights multiplied by c, trained with
Adam at a learning rate multiplied by c (Adam's steps scale with the parameters): the parameters keep the
authors' initialisation, units, learning rates and regulariser strengths, and inside the window (on SHD-like
data) nothing changes at all.
"""

from __future__ import annotations

import math
from typing import Callable

import torch

from ..config import InitSettings
from ..data.batching import iterate_batches
from ..data.dataset import SpikeDataset
from ..model.network import SpatialSNN

_INSIDE = 2.0  # how far inside the window the calibrated rate lands: this factor from the edge it crossed
_BISECTIONS = 16
_LARGEST_SCALE = 1e3
CALIBRATION_SAMPLES = 64  # the first training samples, in file order


def calibrate_start(model: SpatialSNN, dataset: SpikeDataset, init: InitSettings,
                    device: torch.device | str = "cpu", log: Callable[[str], None] = print) -> None:
    """Both start-up calibrations a run's settings ask for, in order: the input gain (`init.rate_window_hz`),
    then the readout's gain on the calibrated hidden layer (`init.logit_sd`); None skips either."""
    if init.rate_window_hz is not None:
        calibrate_gain(model, dataset, tuple(init.rate_window_hz), device=device, log=log)
    if init.logit_sd is not None:
        calibrate_readout(model, dataset, init.logit_sd, device=device, log=log)


def _untrained_outputs(model: SpatialSNN, dataset: SpikeDataset, samples: int, device: torch.device | str):
    """(batch, logits, hidden spikes) of the model on the first `samples` samples of `dataset`, in one batch."""
    subset = dataset.subset(range(min(samples, len(dataset))))
    for batch in iterate_batches(subset, len(subset), shuffle=False, device=device):
        logits, hidden = model(batch.inputs, batch.batch_size, batch.num_steps)
        yield batch, logits, hidden


@torch.no_grad()
def hidden_rate_hz(model: SpatialSNN, dataset: SpikeDataset, samples: int = CALIBRATION_SAMPLES,
                   input_scale: float | None = None, device: torch.device | str = "cpu") -> float:
    """Mean hidden firing rate (Hz) on the first `samples` samples of `dataset` (at `input_scale`, if given)."""
    original = float(model.input_scale)
    spikes, seconds = 0.0, 0.0
    try:
        if input_scale is not None:
            model.set_input_scale(input_scale)
        for batch, _, hidden in _untrained_outputs(model, dataset, samples, device):
            spikes += float(hidden.sum())
            seconds += batch.batch_size * batch.num_steps * dataset.dt_ms / 1000.0
    finally:
        model.set_input_scale(original)
    return spikes / (seconds * model.w_rec.shape[0]) if seconds else 0.0


@torch.no_grad()
def calibrate_gain(model: SpatialSNN, dataset: SpikeDataset, window_hz: tuple[float, float],
                   device: torch.device | str = "cpu", log: Callable[[str], None] = print) -> float:
    """Set `model`'s input scale so that the initial hidden rate lies in `window_hz`; returns the scale (1.0 when
    the rate already lies inside, or when no scale within 1e-3 ... 1e3 reaches the window)."""
    low, high = window_hz
    rate = hidden_rate_hz(model, dataset, device=device)
    if low <= rate <= high:
        log(f"initial hidden rate {rate:.3g} Hz lies in model.init.rate_window_hz [{low:g}, {high:g}] Hz: "
            f"the network is the authors' as initialised")
        return 1.0
    target = _INSIDE * low if rate < low else high / _INSIDE
    lo, hi = (0.0, math.log(_LARGEST_SCALE)) if rate < low else (-math.log(_LARGEST_SCALE), 0.0)
    edge = _LARGEST_SCALE if rate < low else 1.0 / _LARGEST_SCALE
    reachable = hidden_rate_hz(model, dataset, input_scale=edge, device=device)
    if (rate < low and reachable < low) or (rate > high and reachable > high):
        log(f"warning: the initial hidden rate is {rate:.3g} Hz and no input gain scale within "
            f"[{1 / _LARGEST_SCALE:g}, {_LARGEST_SCALE:g}] brings it into [{low:g}, {high:g}] Hz (does the data "
            f"hold events?); the network is kept as initialised")
        return 1.0
    for _ in range(_BISECTIONS):  # the rate grows with the gain
        middle = 0.5 * (lo + hi)
        if hidden_rate_hz(model, dataset, input_scale=math.exp(middle), device=device) < target:
            lo = middle
        else:
            hi = middle
    scale = math.exp(0.5 * (lo + hi))
    model.set_input_scale(scale)
    calibrated = hidden_rate_hz(model, dataset, device=device)
    log(f"initial hidden rate {rate:.3g} Hz lies outside model.init.rate_window_hz [{low:g}, {high:g}] Hz: the "
        f"input gain is scaled by {scale:.4g} (the same as the input weights and their learning rate scaled by "
        f"it) -> {calibrated:.3g} Hz; rate_window_hz: null keeps the authors' network as it is")
    return scale


@torch.no_grad()
def logit_spread(model: SpatialSNN, dataset: SpikeDataset, samples: int = CALIBRATION_SAMPLES,
                 device: torch.device | str = "cpu") -> float:
    """How far apart the untrained logits lie: the root mean square over the first `samples` samples and the
    classes of each sample's logits minus their mean (what the softmax sees)."""
    squares, count = 0.0, 0
    for _, logits, _ in _untrained_outputs(model, dataset, samples, device):
        centred = logits - logits.mean(dim=1, keepdim=True)
        squares += float(centred.pow(2).sum())
        count += centred.numel()
    return math.sqrt(squares / count) if count else 0.0


@torch.no_grad()
def calibrate_readout(model: SpatialSNN, dataset: SpikeDataset, logit_sd: float,
                      device: torch.device | str = "cpu", log: Callable[[str], None] = print) -> float:
    """Scale the readout's gain so that the untrained logits lie `logit_sd` apart (`logit_spread`); returns the
    scale (1.0 when the hidden layer is silent, so that nothing reaches the readout).

    Why: the authors' readout (output weights Normal(0, 0.03) under mlGeNN's input scaling, averaged over
    T = 1,000 steps) starts with logits ~0.04 apart, so the softmax is flat and the cross-entropy barely tells
    the classes apart until Adam has grown the output weights ~25-fold, ~10^3 steps at lr 1e-3: the authors'
    runs have ~10^4, a short run has not. Logits are linear in the readout's gain, so one measurement sets it;
    the scale is the same as the output weights and their learning rate multiplied by it."""
    spread = logit_spread(model, dataset, device=device)
    if spread == 0.0:
        log("warning: the untrained logits are all equal (no hidden spikes reach the readout); the readout is "
            "kept as initialised")
        return 1.0
    scale = logit_sd / spread
    model.set_readout_scale(scale)
    log(f"untrained logits lie {spread:.3g} apart: the readout's gain is scaled by {scale:.4g} (the same as the "
        f"output weights and their learning rate scaled by it) -> {logit_sd:g} (model.init.logit_sd); null "
        f"keeps the authors' readout")
    return scale

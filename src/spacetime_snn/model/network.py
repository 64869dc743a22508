"""SpatialSNN: input -> recurrent LIF hidden layer with delays -> leaky-integrator readout."""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from ..config import GRADIENTS, ModelSettings
from .backend import resolve_backend
from .compiled_eventprop import compiled_event_recurrence
from .compiled_recurrence import compiled_lif_recurrence
from .delays import delay_propagate
from .eventprop import event_recurrence
from .parameterisation import SynapticDelays, make_delays
from .readout import readout_kernel
from .recurrence import LIFParameters, lif_recurrence


class SpatialSNN(nn.Module):
    """The paper's network; the recurrent delay mode is a sub-module, so every condition shares this code.

    Weights are stored [pre, post]: w_in (C, N), w_rec (N, N), w_out (N, O). Delays are in time steps.
    `gradient` (train.gradient) picks the hidden layer's learning rule and, with it, its forward model:
    "surrogate" (spikes on whole steps, surrogate-gradient BPTT, `recurrence`) or "eventprop" (threshold crossings
    interpolated within the step, exact event-based gradients, `eventprop`); everything else is shared.
    `backend` (model.backend, an attribute and not part of the state: a model saved on one backend runs on the
    other) picks the implementation of the layer's time loops, resolved per call by `backend.resolve_backend`.
    """

    def __init__(self, num_inputs: int, num_outputs: int, settings: ModelSettings, dt_ms: float,
                 generator: torch.Generator | None = None, gradient: str = "surrogate"):
        super().__init__()
        if gradient not in GRADIENTS:
            raise ValueError(f"unknown gradient {gradient!r}; allowed: {', '.join(GRADIENTS)}")
        if gradient == "eventprop" and settings.input_delays:
            raise ValueError("input delays are not supported with the eventprop gradient (train.gradient); "
                             "set model.input_delays: false or train.gradient: surrogate")
        init = settings.init
        n = settings.hidden
        self.settings = settings
        self.gradient = gradient
        self.backend = settings.backend
        self.lif = LIFParameters(tau_mem_ms=settings.tau_mem_ms, tau_syn_ms=settings.tau_syn_ms, dt_ms=dt_ms,
                                 threshold=settings.threshold, surrogate_slope=settings.surrogate_slope,
                                 max_delay=settings.max_delay_steps,
                                 interpolate=settings.delay_interpolation == "linear",
                                 scale_input=settings.scale_input)
        self.w_in = nn.Parameter(torch.randn(num_inputs, n, generator=generator) * init.w_in_std + init.w_in_mean)
        self.w_rec = nn.Parameter(torch.randn(n, n, generator=generator) * init.w_rec_std)
        self.w_out = nn.Parameter(torch.randn(n, num_outputs, generator=generator) * init.w_out_std)
        self.recurrent_delays = make_delays(settings.delay_mode, n, settings.dims, settings.max_delay_steps,
                                            init.position_range, generator=generator)
        self.input_delays = (SynapticDelays(num_inputs, settings.max_delay_steps, num_post=n)
                             if settings.input_delays else None)
        self.register_buffer("gain_scale", torch.ones((), dtype=torch.float64))
        self.register_buffer("input_scale", torch.ones((), dtype=torch.float64))
        self.register_buffer("readout_scale", torch.ones((), dtype=torch.float64))
        self._register_load_state_dict_pre_hook(_default_scales)
        self.register_load_state_dict_post_hook(lambda module, _: module._apply_gain_scale())

    def set_gain_scale(self, scale: float) -> None:
        """Multiply the input gain of the hidden and output layers by `scale`: the same dynamics as every weight
        multiplied by `scale` (and, under Adam, as their learning rate too), while the parameters keep the
        authors' initialisation and units. The rate calibration set it before it scaled the input gain only;
        models saved then keep theirs."""
        self.gain_scale.fill_(scale)
        self._apply_gain_scale()

    def set_input_scale(self, scale: float) -> None:
        """Multiply the input -> hidden gain by `scale`: the same as the input weights and, under Adam, their
        learning rate multiplied by it; the recurrent and output layers keep theirs. Set once, before training,
        by the rate calibration."""
        self.input_scale.fill_(scale)

    def set_readout_scale(self, scale: float) -> None:
        """Multiply the readout's gain by `scale` on top of the gain scale: the same as the output weights and,
        under Adam, their learning rate multiplied by it. Set once, before training, by the logit calibration."""
        self.readout_scale.fill_(scale)

    def _apply_gain_scale(self) -> None:
        self.lif = dataclasses.replace(self.lif, gain_scale=float(self.gain_scale))

    def delay_parameters(self) -> list[nn.Parameter]:
        """Parameters trained with the separate delay/position optimiser."""
        params = list(self.recurrent_delays.parameters())
        if self.input_delays is not None:
            params += list(self.input_delays.parameters())
        return params

    def weight_parameters(self) -> list[nn.Parameter]:
        return [self.w_in, self.w_rec, self.w_out]

    def scaled_input_weights(self) -> torch.Tensor:
        """The input weights as the network applies them: w_in times the calibrated input scale."""
        return self.w_in * self.input_scale.to(self.w_in.dtype)

    def input_currents(self, inputs: torch.Tensor, batch_size: int, num_steps: int) -> torch.Tensor:
        """Input currents (B, T, N) from the sparse (B*T, C) input events."""
        w_in = self.scaled_input_weights()
        if self.input_delays is None:
            return torch.sparse.mm(inputs, w_in).view(batch_size, num_steps, -1)
        dense = inputs.to_dense().view(batch_size, num_steps, -1)
        return delay_propagate(dense, w_in, self.input_delays(), self.lif.max_delay, self.lif.interpolate)

    def forward(self, inputs: torch.Tensor, batch_size: int, num_steps: int,
                recurrent_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits (B, O) and hidden spikes (B, T, N); `recurrent_mask` (N, N) zeroes pruned synapses."""
        w_rec = self.w_rec if recurrent_mask is None else self.w_rec * recurrent_mask
        kernel = torch.as_tensor(readout_kernel(num_steps, self.lif.tau_mem_ms, self.lif.tau_syn_ms, self.lif.dt_ms,
                                                self.lif.gain), dtype=w_rec.dtype, device=w_rec.device)
        kernel = kernel * self.readout_scale.to(kernel.dtype)
        compiled = resolve_backend(self.backend, w_rec.device) == "compiled"
        if self.gradient == "eventprop":  # the readout's input, sum_t kernel(t) a(t), comes from the layer itself
            layer = compiled_event_recurrence if compiled else event_recurrence
            spikes, drive = layer(inputs, batch_size, num_steps, self.scaled_input_weights(), w_rec,
                                  self.recurrent_delays(), kernel, self.lif)
        else:
            currents = self.input_currents(inputs, batch_size, num_steps)
            layer = compiled_lif_recurrence if compiled else lif_recurrence
            spikes = layer(currents, w_rec, self.recurrent_delays(), self.lif)
            drive = torch.einsum("t,btn->bn", kernel, spikes)
        return drive @ self.w_out, spikes

    def recurrent_trainable_count(self) -> int:
        """Trainable parameters of the recurrent layer, as the paper counts them (weights + delay parameters)."""
        return self.w_rec.numel() + self.recurrent_delays.trainable_count()

    def trainable_count(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)


def _default_scales(state_dict, prefix, *_args) -> None:
    """Models saved before the input and logit calibrations existed have neither scale: theirs were 1 (their
    calibration, if any, is their gain_scale)."""
    for name in ("input_scale", "readout_scale"):
        state_dict.setdefault(prefix + name, torch.ones((), dtype=torch.float64))

"""Run settings: plain dataclasses built from the JSON/YAML dict a rule passes to `spacetime-snn train`.

Every field has the paper's default; unknown keys and invalid values raise ConfigError naming the dotted key,
so a typo in a study config costs one message instead of a silently ignored setting.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Literal

from .errors import ConfigError

DELAY_MODES = ("none", "axonal", "synaptic", "spatial")
INTERPOLATIONS = ("linear", "round")
GRADIENTS = ("surrogate", "eventprop")
BACKENDS = ("auto", "torch", "compiled")  # model.backend; resolved in model/backend.py


@dataclass(frozen=True)
class AugmentSettings:
    shift_channels: int = 40  # all channels of a sample shifted by an integer in [-shift, shift)
    blend_samples: int = 7644  # extra same-class blends per epoch (paper: 7,644 for SHD)


@dataclass(frozen=True)
class DataSettings:
    source: Literal["shd", "synthetic", "spoken"] = "shd"
    root: str = "resources/shd"  # folder holding the two HDF5 files
    dt_ms: float = 1.0  # simulation step and binning width
    max_time_ms: float | None = 1000.0  # drop events at or after this time (authors: 1 s); None keeps all
    validation_fraction: float = 0.1  # held out of the training set when selection is "validation"
    selection: Literal["validation", "train"] = "train"  # "train" = the authors' protocol; "validation" = ours
    augment: AugmentSettings = field(default_factory=AugmentSettings)


@dataclass(frozen=True)
class InitSettings:
    w_in_mean: float = 0.03
    w_in_std: float = 0.01
    w_rec_std: float = 0.02
    w_out_std: float = 0.03
    position_range: float = 1.0  # positions start Uniform[-r, r]^D (delay units = time steps)
    # Initial mean hidden rate (Hz) to start in; outside it the input weights are rescaled (training/calibration.py).
    rate_window_hz: list[float] | None = field(default_factory=lambda: [10.0, 100.0])
    logit_sd: float | None = 1.0  # ours: the readout's gain is set so the untrained logits lie this far apart


@dataclass(frozen=True)
class ModelSettings:
    hidden: int = 128
    delay_mode: Literal["none", "axonal", "synaptic", "spatial"] = "spatial"
    dims: int = 2  # dimensions of the position space (spatial mode)
    max_delay_steps: int = 62
    delay_interpolation: Literal["linear", "round"] = "round"  # "round" = the authors' integer delays
    input_delays: bool = False  # learnable per-synapse delays on input -> hidden as well
    tau_mem_ms: float = 20.0
    tau_syn_ms: float = 5.0
    threshold: float = 1.0
    surrogate_slope: float = 10.0  # steepness of the fast-sigmoid surrogate derivative
    scale_input: bool = True  # mlGeNN EventProp's scale_i: V += (1 - beta) tau_syn/dt (1 - alpha) I (authors: on)
    init: InitSettings = field(default_factory=InitSettings)
    # how the hidden layer's time loops run, not what they compute (same spikes and gradients to rounding):
    # "compiled" (numba, event-driven, CPU), "torch" (the reference, any device), "auto" (compiled on CPU)
    backend: Literal["auto", "torch", "compiled"] = "auto"


@dataclass(frozen=True)
class SpikeRegSettings:
    """mlGeNN's spike regulariser: per hidden neuron, (k / 2) (mean spike count per sample - target)^2 with
    k = upper_strength above the target and lower_strength below it (reg_lambda_upper / _lower, reg_nu_upper)."""

    upper_strength: float = 5e-10
    lower_strength: float = 5e-10
    target: float = 1.0  # spikes per neuron per sample (mlGeNN's reg_nu_upper)


@dataclass(frozen=True)
class TrainSettings:
    epochs: int = 300
    patience: int = 16  # epochs without improvement of the selection accuracy before stopping (authors: 16)
    batch_size: int = 256
    lr: float = 1e-3  # Adam, weights
    delay_lr: float = 0.05  # Adam, positions or free delays
    spike_reg: SpikeRegSettings = field(default_factory=SpikeRegSettings)
    min_epochs: int = 0  # never stop early before this epoch
    l1: float = 0.0  # lambda * sum |w_rec|
    distance_cost: float = 0.0  # lambda * sum |w_ij| * d_ij ** distance_power
    distance_power: float = 1.0  # exponent of the delay in the distance cost (paper v1: 1, v2: 2)
    distance_cost_moves_positions: bool = False  # authors: the cost pulls weights only
    dead_neuron_boost: float = 0.002  # added to input weights of hidden neurons silent for a whole epoch
    eval_batch_size: int = 512
    # learning rule of the hidden layer and its forward model: "surrogate" (spikes on whole steps, surrogate-gradient
    # BPTT) or "eventprop" (crossings interpolated within the step, exact event-based gradients, as the authors)
    gradient: Literal["surrogate", "eventprop"] = "surrogate"
    # ours: what the surrogate gradient replaces in every condition when it trains (None keeps the condition's
    # own, the authors' EventProp values; docs/fidelity.md row 17b has the measurements): a regulariser that holds
    # the rate, and fractional delays, whose gradient is the forward pass's own
    surrogate_spike_reg: SpikeRegSettings | None = None
    surrogate_delay_interpolation: Literal["linear", "round"] | None = None
    # ours, surrogate gradient only: a batch whose gradient norm exceeds this factor times the previous epoch's
    # median norm is scaled down to it (the rare bursts of BPTT through the recurrent loops; None: never clipped)
    surrogate_clip_factor: float | None = None


@dataclass(frozen=True)
class RunSettings:
    data: DataSettings = field(default_factory=DataSettings)
    model: ModelSettings = field(default_factory=ModelSettings)
    train: TrainSettings = field(default_factory=TrainSettings)
    seed: int = 0
    run: dict[str, Any] = field(default_factory=dict)  # identifiers (study, condition, hidden, seed) for CSVs

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _build(cls, values: Any, prefix: str):
    if not dataclasses.is_dataclass(cls):
        return values
    if not isinstance(values, dict):
        raise ConfigError(f"'{prefix or 'settings'}' must be a mapping, got {type(values).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        key = f"{prefix}.{unknown[0]}" if prefix else unknown[0]
        raise ConfigError(f"unknown key '{key}'; allowed keys here: {', '.join(sorted(fields))}")
    kwargs = {}
    for name, value in values.items():
        nested = _NESTED.get((cls, name))
        build = nested is not None and value is not None  # None: an optional block left out (null)
        kwargs[name] = _build(nested, value, f"{prefix}.{name}" if prefix else name) if build else value
    return cls(**kwargs)


_NESTED = {
    (DataSettings, "augment"): AugmentSettings,
    (ModelSettings, "init"): InitSettings,
    (TrainSettings, "spike_reg"): SpikeRegSettings,
    (TrainSettings, "surrogate_spike_reg"): SpikeRegSettings,
    (RunSettings, "data"): DataSettings,
    (RunSettings, "model"): ModelSettings,
    (RunSettings, "train"): TrainSettings,
}


def _check(condition: bool, key: str, message: str) -> None:
    if not condition:
        raise ConfigError(f"invalid value for '{key}': {message}")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def validate(settings: RunSettings) -> RunSettings:
    """Reject values that would make a run meaningless, naming the key and the allowed range.

    The same types and ranges as the study schema (workflow/schemas/config.schema.yaml), so that settings passed
    to `spacetime-snn train` directly are held to what the workflow would accept.
    """
    d, m, t = settings.data, settings.model, settings.train
    _check(d.source in ("shd", "synthetic", "spoken"), "data.source", f"{d.source!r}; allowed: shd, synthetic, spoken")
    _check(isinstance(d.root, str) and d.root != "", "data.root", f"{d.root!r}; must be a non-empty path (text)")
    _check(_is_number(d.dt_ms) and d.dt_ms > 0, "data.dt_ms", f"{d.dt_ms!r}; must be a number > 0 (ms)")
    _check(d.max_time_ms is None or (_is_number(d.max_time_ms) and d.max_time_ms > 0), "data.max_time_ms",
           f"{d.max_time_ms!r}; must be null or a number > 0 (ms)")
    _check(_is_number(d.validation_fraction) and 0 <= d.validation_fraction < 1, "data.validation_fraction",
           f"{d.validation_fraction!r}; must be in [0, 1)")
    _check(d.selection in ("validation", "train"), "data.selection", f"{d.selection!r}; allowed: validation, train")
    _check(d.selection == "train" or d.validation_fraction > 0, "data.validation_fraction",
           "must be > 0 when data.selection is 'validation'")
    _check(_is_int(d.augment.shift_channels) and d.augment.shift_channels >= 0, "data.augment.shift_channels",
           f"{d.augment.shift_channels!r}; must be an integer >= 0")
    _check(_is_int(d.augment.blend_samples) and d.augment.blend_samples >= 0, "data.augment.blend_samples",
           f"{d.augment.blend_samples!r}; must be an integer >= 0")
    _check(_is_int(m.hidden) and m.hidden >= 1, "model.hidden", f"{m.hidden!r}; must be an integer >= 1")
    _check(m.delay_mode in DELAY_MODES, "model.delay_mode", f"{m.delay_mode!r}; allowed: {', '.join(DELAY_MODES)}")
    _check(_is_int(m.dims) and m.dims >= 1, "model.dims", f"{m.dims!r}; must be an integer >= 1")
    _check(_is_int(m.max_delay_steps) and m.max_delay_steps >= 1, "model.max_delay_steps",
           f"{m.max_delay_steps!r}; must be an integer >= 1")
    _check(m.delay_interpolation in INTERPOLATIONS, "model.delay_interpolation",
           f"{m.delay_interpolation!r}; allowed: {', '.join(INTERPOLATIONS)}")
    _check(m.backend in BACKENDS, "model.backend", f"{m.backend!r}; allowed: {', '.join(BACKENDS)}")
    for key in ("tau_mem_ms", "tau_syn_ms", "threshold", "surrogate_slope"):
        value = getattr(m, key)
        _check(_is_number(value) and value > 0, f"model.{key}", f"{value!r}; must be a number > 0")
    for key in ("input_delays", "scale_input"):
        value = getattr(m, key)
        _check(isinstance(value, bool), f"model.{key}", f"{value!r}; must be true or false")
    _check(_is_number(m.init.w_in_mean), "model.init.w_in_mean", f"{m.init.w_in_mean!r}; must be a finite number")
    for key in ("w_in_std", "w_rec_std", "w_out_std"):
        value = getattr(m.init, key)
        _check(_is_number(value) and value >= 0, f"model.init.{key}", f"{value!r}; must be a number >= 0")
    _check(_is_number(m.init.position_range) and m.init.position_range > 0, "model.init.position_range",
           f"{m.init.position_range!r}; must be a number > 0")
    window = m.init.rate_window_hz
    _check(window is None or (isinstance(window, (list, tuple)) and len(window) == 2
                              and all(_is_number(v) for v in window) and 0 <= window[0] < window[1]),
           "model.init.rate_window_hz", f"{window!r}; must be null or [low, high] in Hz with 0 <= low < high"),
    _check(m.init.logit_sd is None or (_is_number(m.init.logit_sd) and m.init.logit_sd > 0), "model.init.logit_sd",
           f"{m.init.logit_sd!r}; must be null or a number > 0")
    for key in ("epochs", "batch_size", "eval_batch_size"):
        value = getattr(t, key)
        _check(_is_int(value) and value >= 1, f"train.{key}", f"{value!r}; must be an integer >= 1")
    _check(_is_int(t.patience) and t.patience >= 1, "train.patience", f"{t.patience!r}; must be an integer >= 1")
    _check(_is_int(t.min_epochs) and t.min_epochs >= 0, "train.min_epochs",
           f"{t.min_epochs!r}; must be an integer >= 0")
    _check(_is_number(t.distance_power) and t.distance_power >= 0, "train.distance_power",
           f"{t.distance_power!r}; must be a number >= 0")
    for key in ("lr", "delay_lr"):
        value = getattr(t, key)
        _check(_is_number(value) and value > 0, f"train.{key}", f"{value!r}; must be a number > 0")
    for key in ("l1", "distance_cost", "dead_neuron_boost"):
        value = getattr(t, key)
        _check(_is_number(value) and value >= 0, f"train.{key}", f"{value!r}; must be a number >= 0")
    for block in ("spike_reg", "surrogate_spike_reg"):
        for key, value in dataclasses.asdict(getattr(t, block) or SpikeRegSettings()).items():
            _check(_is_number(value) and value >= 0, f"train.{block}.{key}", f"{value!r}; must be a number >= 0")
    _check(t.surrogate_clip_factor is None or (_is_number(t.surrogate_clip_factor) and t.surrogate_clip_factor > 1),
           "train.surrogate_clip_factor", f"{t.surrogate_clip_factor!r}; must be a number > 1, or null (no clipping)")
    _check(t.surrogate_delay_interpolation in (None, *INTERPOLATIONS), "train.surrogate_delay_interpolation",
           f"{t.surrogate_delay_interpolation!r}; allowed: null, {', '.join(INTERPOLATIONS)}")
    _check(isinstance(t.distance_cost_moves_positions, bool), "train.distance_cost_moves_positions",
           f"{t.distance_cost_moves_positions!r}; must be true or false")
    _check(t.gradient in GRADIENTS, "train.gradient", f"{t.gradient!r}; allowed: {', '.join(GRADIENTS)}")
    _check(not (t.gradient == "eventprop" and m.input_delays), "train.gradient",
           "eventprop does not support input delays; set model.input_delays: false or train.gradient: surrogate")
    _check(_is_int(settings.seed) and settings.seed >= 0, "seed", f"{settings.seed!r}; must be an integer >= 0")
    _check(isinstance(settings.run, dict), "run",
           f"{settings.run!r}; must be a mapping of identifiers (study, condition, hidden, seed)")
    for key, source, actual in _identified(settings):
        value = settings.run.get(key, actual)
        if not _is_int(value) or value != actual:
            raise ConfigError(
                f"invalid value for 'run.{key}': {value!r}, but '{source}' is {actual!r}: run.{key} labels the run "
                f"in summary.json and every CSV, so it must be what the run is. Fix: run.{key}: {actual} (or leave "
                f"run.{key} out: it is then taken from {source})")
    return settings


def _identified(settings: RunSettings) -> list[tuple[str, str, Any]]:
    """(identifier, the setting it names, that setting's value): identifiers that must agree with the run."""
    return [("hidden", "model.hidden", settings.model.hidden), ("seed", "seed", settings.seed)]


def _derive_identifiers(settings: RunSettings) -> RunSettings:
    """run.hidden and run.seed taken from model.hidden and seed when the identifiers are given without them."""
    if not settings.run:
        return settings
    run = {key: actual for key, _, actual in _identified(settings)} | settings.run
    return dataclasses.replace(settings, run=run)


def settings_from_dict(values: dict[str, Any]) -> RunSettings:
    """Build and validate RunSettings from a (possibly partial) nested dict; missing keys take defaults; the
    surrogate gradient's replacements are applied (`rule_settings`)."""
    return rule_settings(_derive_identifiers(validate(_build(RunSettings, values, ""))))


def rule_settings(settings: RunSettings) -> RunSettings:
    """The settings the learning rule trains with: under the surrogate gradient, `train.surrogate_spike_reg` and
    `train.surrogate_delay_interpolation` replace the condition's regulariser and delay interpolation (both
    are set for EventProp by the authors); unchanged under EventProp or when they are None. Idempotent."""
    train, model = settings.train, settings.model
    if train.gradient != "surrogate":
        return settings
    if train.surrogate_spike_reg is not None:
        train = dataclasses.replace(train, spike_reg=train.surrogate_spike_reg)
    if train.surrogate_delay_interpolation is not None:
        model = dataclasses.replace(model, delay_interpolation=train.surrogate_delay_interpolation)
    return dataclasses.replace(settings, train=train, model=model)


def dt_warnings(settings: RunSettings, num_steps: int | None = None) -> list[str]:
    """What a time step other than 1 ms changes without saying so, each with its fix (empty when nothing does).

    Delays, positions and `max_delay_steps` are counted in steps (one distance unit = one step), so their length
    in ms scales with dt; without `scale_input` the input gain is 1 per step, so the same weights drive a neuron
    ~1/dt times harder per ms (untrained, on the demo task: 21 Hz at 1 ms, 4,890 Hz at 0.1 ms, before the start-up
    calibration rescales the gain). `num_steps` (the samples' length in steps, once the data are binned; else from
    data.max_time_ms) is checked against the longest delay.
    """
    d, m = settings.data, settings.model
    dt = d.dt_ms
    found = []
    if not m.scale_input and dt != 1.0:
        calibrated = ("; the start-up calibration (model.init.rate_window_hz) then rescales the input gain to "
                      "bring the rate into its window, so the run starts at a sane rate, but with other effective "
                      "weights and learning rates than at 1 ms" if m.init.rate_window_hz else "")
        found.append(f"data.dt_ms = {dt:g} with model.scale_input: false: the input gain is 1 per step, so the "
                     f"same weights drive the neurons ~{1 / dt:.3g}x as hard per ms as at 1 ms{calibrated}. Fix: "
                     f"model.scale_input: true (mlGeNN's scale_i, the authors' setting: nearly the same dynamics at "
                     f"any dt_ms), or data.dt_ms: 1.0")
    if m.delay_mode == "none" and not m.input_delays:
        return found
    steps = num_steps if num_steps is not None else (
        int(math.ceil(d.max_time_ms / dt)) if d.max_time_ms is not None else None)
    longest_ms = m.max_delay_steps * dt
    if steps is not None and m.max_delay_steps >= steps:
        found.append(f"model.max_delay_steps = {m.max_delay_steps} steps is {longest_ms:g} ms at data.dt_ms = "
                     f"{dt:g}, as long as the samples or longer ({steps} steps, {steps * dt:g} ms): a spike delayed "
                     f"that long arrives after the sample has ended. Fix: model.max_delay_steps: {max(steps - 1, 1)} "
                     f"or less, or a smaller data.dt_ms")
    elif dt != 1.0:
        found.append(f"data.dt_ms = {dt:g}: delays and positions are in steps (one distance unit = one step), so "
                     f"model.max_delay_steps = {m.max_delay_steps} is {longest_ms:g} ms (at 1 ms: "
                     f"{m.max_delay_steps} ms) and the initial delays are {dt:g}x as long in ms. Fix (the same delays "
                     f"in ms as at 1 ms): model.max_delay_steps: {max(int(round(m.max_delay_steps / dt)), 1)} and "
                     f"model.init.position_range: {m.init.position_range / dt:.3g}")
    return found

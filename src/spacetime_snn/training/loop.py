"""The one training loop for every condition: checkpoint each epoch, resume, stop on divergence, log, select.

Determinism: the model is initialised from the run seed and every epoch draws its augmentation and batch order
from a generator seeded by (seed, epoch), so a run resumed from the checkpoint of epoch e continues exactly as
an uninterrupted run would (bit-identical on CPU).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from ..config import RunSettings
from ..data.augment import checked_augment_epoch
from ..data.checks import check_shift, class_warnings
from ..data.batching import iterate_batches
from ..data.splits import validation_split
from ..errors import DivergenceError
from ..model.backend import resolve_backend
from ..model.network import SpatialSNN
from . import run_io
from .build import build_model, data_paths, load_data
from .calibration import calibrate_start
from .evaluate import evaluate, measure
from .objective import loss_terms

# A validation set smaller than this selects epochs by noise: at 70 % accuracy one sample is worth 100/n points
# and the standard error is ~46/sqrt(n) points (5 points at n = 90).
SMALL_VALIDATION = 300

EpochHook = Callable[[int, dict[str, Any]], None]


def default_device() -> torch.device:
    """CUDA when present, else CPU: the same code runs on both."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _snapshot(model: SpatialSNN) -> dict[str, np.ndarray]:
    """What the per-epoch analysis needs: recurrent weights and the delays / positions behind them."""
    with torch.no_grad():
        snap = {"w_rec": model.w_rec.detach().cpu().numpy().astype(np.float32)}
        delays = model.recurrent_delays()
        if delays is not None:
            snap["delays"] = delays.detach().cpu().numpy().astype(np.float32)
        position = getattr(model.recurrent_delays, "position", None)
        if position is not None:
            snap["positions"] = position.detach().cpu().numpy().astype(np.float32)
    return snap


def _check_finite(value: torch.Tensor, what: str, epoch: int, batch: int, run_dir: Path) -> None:
    if not torch.isfinite(value).all():
        checkpoint, previous = run_dir / run_io.CHECKPOINT, run_dir / run_io.PREVIOUS_CHECKPOINT
        if checkpoint.exists():  # written at the end of every epoch, so it holds epoch - 1
            kept = f"its last good checkpoint ({checkpoint}, end of epoch {epoch - 1}) is kept for inspection"
            restart = (f"delete {checkpoint} and {previous} (a rerun with the same settings resumes from them and "
                       f"diverges again; with other settings it sets them aside), then rerun")
        else:
            kept = "no checkpoint was written (it diverged in the first epoch)"
            restart = "rerun"
        raise DivergenceError(
            f"{what} became NaN/inf at epoch {epoch}, batch {batch}; the run stopped without writing its outputs "
            f"and {kept}. Fix: lower train.lr / train.delay_lr or the regulariser strengths, {restart}.")


class Trainer:
    """Holds one run's state; `run()` trains to the end, resuming from a checkpoint when there is one."""

    def __init__(self, settings: RunSettings, run_dir: str | Path, device: torch.device | None = None,
                 cache_dir: str | Path | None = None, progress: bool | None = None, log=print):
        self.settings = settings
        self.run_dir = Path(run_dir)
        self.device = device or default_device()
        self.progress = sys.stderr.isatty() if progress is None else progress
        self.log = log
        train_full, self.test_set = load_data(settings, cache_dir=cache_dir)
        train_path, test_path = data_paths(settings)
        check_shift(settings.data.augment.shift_channels, train_full, train_path)  # bad settings, no run dir
        for warning in class_warnings(train_full, self.test_set, train_path, test_path):
            self.log(f"warning: {warning}")
        self.run_dir.mkdir(parents=True, exist_ok=True)  # only once the data passed validation: bad data, no run
        self.lock = run_io.RunLock(self.run_dir)  # one writer per run directory, held until run() returns
        for notice in self.lock.acquire():
            self.log(notice)
        try:
            self._build(settings, train_full)
        except BaseException:
            self.lock.release()
            raise

    def _build(self, settings: RunSettings, train_full) -> None:
        if settings.data.selection == "validation":
            train_idx, val_idx = validation_split(train_full, settings.data.validation_fraction, settings.seed)
            self.train_set, self.val_set = train_full.subset(train_idx), train_full.subset(val_idx)
            if len(self.val_set) < SMALL_VALIDATION:
                n = len(self.val_set)
                self.log(f"warning: the validation set has only {n} samples (one sample = {100 / max(n, 1):.1f} "
                         f"points of accuracy, standard error ~{46 / max(n, 1) ** 0.5:.1f} points at 70 %): model "
                         f"selection and early stopping on it follow noise. Fix: data.selection: train (the "
                         f"authors' protocol) or a larger data.validation_fraction")
        else:
            self.train_set, self.val_set = train_full, None
        self.model = build_model(settings, train_full.num_channels, train_full.num_classes).to(self.device)
        self.weight_opt = torch.optim.Adam(self.model.weight_parameters(), lr=settings.train.lr)
        delay_params = self.model.delay_parameters()
        self.delay_opt = torch.optim.Adam(delay_params, lr=settings.train.delay_lr) if delay_params else None
        self.epoch = 0
        self.rows: list[dict[str, Any]] = []
        self.snapshots: dict[str, list[np.ndarray]] = {}
        self.best: dict[str, Any] = {"score": -1.0, "epoch": 0, "state": None, "row": None}
        self.stale_epochs = 0
        self.finished = False
        self._rate_warned = False  # warned that training drove the hidden rate out of its starting window
        # Wall-clock and CPU seconds of the completed epochs of every attempt (kept in the checkpoint, so a
        # resumed run's summary counts its earlier attempts too); this attempt's clock starts here.
        self.elapsed = {"wall": 0.0, "cpu": 0.0}
        self._clock = (time.perf_counter(), time.process_time())

    # ---- state ----
    def _state(self) -> dict[str, Any]:
        return {"settings": self.settings.to_dict(), "epoch": self.epoch, "model": self.model.state_dict(),
                "weight_opt": self.weight_opt.state_dict(),
                "delay_opt": None if self.delay_opt is None else self.delay_opt.state_dict(),
                "rows": self.rows, "snapshots": self.snapshots, "best": self.best,
                "stale_epochs": self.stale_epochs, "finished": self.finished, "elapsed": self.elapsed}

    def _restore(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.weight_opt.load_state_dict(state["weight_opt"])
        if self.delay_opt is not None:
            self.delay_opt.load_state_dict(state["delay_opt"])
        self.epoch, self.rows, self.snapshots = state["epoch"], state["rows"], state["snapshots"]
        self.best, self.stale_epochs, self.finished = state["best"], state["stale_epochs"], state["finished"]
        self.elapsed = dict(state.get("elapsed", {"wall": 0.0, "cpu": 0.0}))  # absent in older checkpoints

    def _record_snapshot(self) -> None:
        for key, value in {"epochs": np.array(self.epoch), **_snapshot(self.model)}.items():
            self.snapshots.setdefault(key, []).append(value)

    # ---- one epoch ----
    def _train_epoch(self) -> dict[str, float]:
        train = self.settings.train
        rng = np.random.default_rng([self.settings.seed, self.epoch])
        augmented = checked_augment_epoch(self.train_set, rng, self.settings.data.augment.shift_channels,
                                          self.settings.data.augment.blend_samples, self.epoch)
        self.model.train()
        total_loss = correct = seen = 0.0
        spike_count = torch.zeros(self.model.w_rec.shape[0], device=self.device)
        steps = 0
        grad_norms: list[float] = []
        clip_at = self._clip_limit()
        clipped = 0
        batches = iterate_batches(augmented, train.batch_size, shuffle=True, rng=rng, device=self.device)
        if self.progress:
            from tqdm import tqdm
            batches = tqdm(batches, total=-(-len(augmented) // train.batch_size), desc=f"epoch {self.epoch}",
                           leave=False)
        for index, batch in enumerate(batches):
            logits, spikes = self.model(batch.inputs, batch.batch_size, batch.num_steps)
            delays = self.model.recurrent_delays() if train.distance_cost else None  # only the cost needs them
            terms = loss_terms(logits, batch.labels, spikes, self.model.w_rec, delays, train)
            loss = sum(terms.values())
            _check_finite(loss, "the loss", self.epoch, index, self.run_dir)
            if self.epoch == 1 and index == 0:  # is any regulariser swamping the cross-entropy?
                rate = float(spikes.detach().mean()) * 1000.0 / self.settings.data.dt_ms
                self.log("first batch: " + ", ".join(f"{name}={float(value.detach()):.4g}" for name, value in terms.items())
                         + f", hidden rate={rate:.3g} Hz")
            self.weight_opt.zero_grad(set_to_none=True)
            if self.delay_opt is not None:
                self.delay_opt.zero_grad(set_to_none=True)
            loss.backward()
            for param in self.model.parameters():
                if param.grad is not None:
                    _check_finite(param.grad, "a gradient", self.epoch, index, self.run_dir)
            norm = _weight_gradient_norm(self.model)
            grad_norms.append(norm)  # before clipping: the log shows the bursts
            clipped += _clip_gradients(self.model, norm, clip_at)
            self.weight_opt.step()
            if self.delay_opt is not None:
                self.delay_opt.step()
            self.model.recurrent_delays.constrain_()
            if self.model.input_delays is not None:
                self.model.input_delays.constrain_()
            total_loss += float(loss.detach()) * batch.batch_size
            correct += float((logits.argmax(1) == batch.labels).sum())
            seen += batch.batch_size
            spike_count += spikes.detach().sum(dim=(0, 1))
            steps = batch.num_steps
        with torch.no_grad():  # wake neurons that never spiked this epoch (paper: +0.002 on their input weights)
            self.model.w_in[:, spike_count == 0] += train.dead_neuron_boost
        seconds_of_data = seen * steps * self.settings.data.dt_ms / 1000.0
        return {"loss": total_loss / seen, "train_accuracy": correct / seen,
                "spike_rate_hz": float(spike_count.sum()) / (seconds_of_data * spike_count.numel()),
                "grad_norm_median": float(np.median(grad_norms)), "grad_norm_max": float(np.max(grad_norms)),
                "clipped_batches": clipped}

    def _clip_limit(self) -> float | None:
        """The gradient norm above which this epoch's batches are scaled down: train.surrogate_clip_factor times
        the previous epoch's median norm, under the surrogate gradient from epoch 2 on (None: no clipping).
        Relative to the run's own typical norm, as AutoClip (Seetharaman et al. 2020), so one factor serves every
        task and condition; the previous epoch's median is in the log, so a resumed run clips alike."""
        train = self.settings.train
        if train.gradient != "surrogate" or train.surrogate_clip_factor is None:
            return None
        previous = self.rows[-1].get("grad_norm_median") if self.rows else None
        if previous is None or not np.isfinite(previous) or previous <= 0:
            return None
        return train.surrogate_clip_factor * float(previous)

    def _log_rule_settings(self) -> None:
        """Say when the surrogate gradient trains with other settings than the condition's (config.rule_settings)."""
        train = self.settings.train
        if train.gradient != "surrogate":
            return
        if train.surrogate_spike_reg is not None:
            reg = train.spike_reg
            self.log(f"surrogate gradient: spike regulariser k = {reg.upper_strength:g} / {reg.lower_strength:g} "
                     f"towards {reg.target:g} spikes per neuron and sample (train.surrogate_spike_reg) in place of "
                     f"the condition's; null keeps it")
        if train.surrogate_delay_interpolation is not None:
            self.log(f"surrogate gradient: {self.settings.model.delay_interpolation} delay interpolation "
                     f"(train.surrogate_delay_interpolation); null keeps model.delay_interpolation")
        if train.surrogate_clip_factor is not None:
            self.log(f"surrogate gradient: a batch's gradient is scaled down to {train.surrogate_clip_factor:g}x the "
                     f"previous epoch's median norm where it exceeds it (train.surrogate_clip_factor); null: never")

    def _initial_row(self) -> dict[str, Any]:
        """Epoch 0 of the log: the untrained network's test accuracy and hidden firing rate (on the test set)."""
        start = time.perf_counter()
        initial = measure(self.model, self.test_set, self.settings.train.eval_batch_size, device=self.device)
        row = {"epoch": 0, "loss": float("nan"), "train_accuracy": float("nan"), "val_accuracy": float("nan"),
               "test_accuracy": initial["accuracy"], "spike_rate_hz": initial["spike_rate_hz"],
               **self._clamp_share(), "seconds": time.perf_counter() - start}
        self.log(f"initialisation: test_accuracy={row['test_accuracy']:.4g} hidden rate={row['spike_rate_hz']:.4g} Hz")
        return row

    def _clamp_share(self) -> dict[str, float]:
        """{"delay_clamp_share": share of recurrent delays held at the clamp [0, max_delay_steps]}; empty
        for a network without recurrent delays (graph_metrics.delay_clamp_shares: the number `metrics` reports)."""
        with torch.no_grad():
            delays = self.model.recurrent_delays()
        if delays is None:
            return {}
        from ..analysis.graph_metrics import delay_clamp_shares  # local: training needs no graph metrics otherwise

        shares = delay_clamp_shares(delays.detach().cpu().numpy(), self.settings.model.max_delay_steps)
        return {"delay_clamp_share": shares["delay_clamp_share"]}

    def _tick(self) -> None:
        """Add the wall-clock and CPU seconds since the last tick (or the start of this attempt) to `elapsed`."""
        wall, cpu = time.perf_counter(), time.process_time()
        self.elapsed = {"wall": self.elapsed["wall"] + wall - self._clock[0],
                        "cpu": self.elapsed["cpu"] + cpu - self._clock[1]}
        self._clock = (wall, cpu)

    def _select(self, row: dict[str, Any]) -> None:
        key = "val_accuracy" if self.val_set is not None else "train_accuracy"
        if row[key] > self.best["score"]:
            state = {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}
            self.best = {"score": row[key], "epoch": self.epoch, "state": state, "row": dict(row)}
            self.stale_epochs = 0
        else:
            self.stale_epochs += 1

    # ---- the run ----
    def run(self, on_epoch_end: EpochHook | None = None) -> dict[str, Any]:
        if self.lock.handle is None:  # a second run() of this trainer
            for notice in self.lock.acquire():
                self.log(notice)
        try:
            return self._run(on_epoch_end)
        finally:
            self.lock.release()

    def _run(self, on_epoch_end: EpochHook | None) -> dict[str, Any]:
        state, warnings = run_io.load_latest_checkpoint(self.run_dir)
        fallback = ("using the previous checkpoint" if state is not None
                    else "no readable checkpoint is left: training starts from scratch")
        for warning in warnings:
            self.log(f"warning: {warning}; {fallback}")
        if state is not None and not same_run(state["settings"], self.settings.to_dict()):
            # Changed settings make this a new run (Snakemake reruns a job whose settings.json changed):
            # resuming would mix two runs, so the old checkpoints are kept aside and training starts afresh.
            moved = ", ".join(str(path) for path in run_io.set_aside_checkpoints(self.run_dir))
            self.log(f"warning: the checkpoint was written with other settings; set aside as {moved}; "
                     f"training starts from scratch with the new settings")
            state = None
        if state is not None:
            self._restore(state)
            self.log(f"resumed {self.run_dir} after epoch {self.epoch}")
        else:
            self._log_rule_settings()
            calibrate_start(self.model, self.train_set, self.settings.model.init, device=self.device, log=self.log)
            self._record_snapshot()  # epoch 0: the initialisation
            self.rows.append(self._initial_row())
        train = self.settings.train
        eval_bs = train.eval_batch_size
        while not self.finished and self.epoch < train.epochs:
            self.epoch += 1
            start = time.perf_counter()
            row: dict[str, Any] = {"epoch": self.epoch, **self._train_epoch()}
            row["val_accuracy"] = (evaluate(self.model, self.val_set, eval_bs, device=self.device)
                                   if self.val_set is not None else float("nan"))
            row["test_accuracy"] = evaluate(self.model, self.test_set, eval_bs, device=self.device)
            row.update(self._clamp_share())
            row["seconds"] = time.perf_counter() - start
            self.rows.append(row)
            self._record_snapshot()
            self._select(row)
            self.finished = ((self.stale_epochs >= train.patience and self.epoch >= train.min_epochs)
                             or self.epoch >= train.epochs)
            self._tick()
            run_io.save_checkpoint(self.run_dir, self._state())
            self.log(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))
            self._warn_if_rate_left_window(row)
            if on_epoch_end is not None:
                on_epoch_end(self.epoch, row)
        return self._write_outputs()

    def _warn_if_rate_left_window(self, row: dict[str, Any]) -> None:
        """Say once per attempt when training drives the hidden rate out of the window it started in (e.g.
        runaway recurrent excitation): the run goes on, its log names the epoch."""
        window = self.settings.model.init.rate_window_hz
        if window is None or self._rate_warned:
            return
        low, high = window
        if not low <= row["spike_rate_hz"] <= high:
            self._rate_warned = True
            self.log(f"warning: epoch {row['epoch']}: the hidden rate is {row['spike_rate_hz']:.3g} Hz, outside "
                     f"model.init.rate_window_hz [{low:g}, {high:g}] Hz that the run started in; the spike "
                     f"regulariser (train.spike_reg) is what holds the rate during training")

    def _end_of_run(self) -> dict[str, Any]:
        """How the run ended, for its summary and log: its last epoch's loss against its epoch-1 loss, its last
        epoch's hidden rate against the window it started in (model.init.rate_window_hz; None without one), the
        share of its delays at the clamp; each flag raised is also said in the log as a warning."""
        trained = [row for row in self.rows if row["epoch"] > 0]
        if not trained:
            return {"end_warnings": []}
        first, last = trained[0], trained[-1]
        window = self.settings.model.init.rate_window_hz
        rate_outside = None if window is None else not window[0] <= last["spike_rate_hz"] <= window[1]
        flags = {"loss_first_epoch": first["loss"], "loss_last_epoch": last["loss"],
                 "loss_above_first_epoch": bool(len(trained) > 1 and last["loss"] > first["loss"]),
                 "rate_last_epoch_hz": last["spike_rate_hz"],
                 "rate_window_hz": None if window is None else list(window), "rate_outside_window": rate_outside,
                 "delay_clamp_share_last": last.get("delay_clamp_share")}
        warnings = []
        if flags["loss_above_first_epoch"]:
            warnings.append(f"the run ended (epoch {last['epoch']}) with its loss {last['loss']:.4g} above its "
                            f"epoch-1 loss {first['loss']:.4g}: training made it worse (look for a jump in log.csv)")
        if rate_outside:
            warnings.append(f"the run ended (epoch {last['epoch']}) with its hidden rate {last['spike_rate_hz']:.3g} "
                            f"Hz outside model.init.rate_window_hz [{window[0]:g}, {window[1]:g}] Hz that it "
                            f"started in")
        for warning in warnings:
            self.log(f"warning: {warning}")
        return {**flags, "end_warnings": warnings}

    def _write_outputs(self) -> dict[str, Any]:
        """The selected model and the run's records; written last, each atomically, so all or none look done."""
        best_state = self.best["state"] or self.model.state_dict()
        run_io.save_torch({"settings": self.settings.to_dict(), "state_dict": best_state,
                           "epoch": self.best["epoch"], "num_inputs": self.model.w_in.shape[0],
                           "num_outputs": self.model.w_out.shape[1]}, self.run_dir / run_io.MODEL)
        run_io.write_log(self.run_dir, self.rows)
        run_io.write_snapshots(self.run_dir, self.snapshots)
        best_row = self.best["row"] or {}
        model = self.settings.model
        summary = {
            **self.settings.run,
            "delay_mode": model.delay_mode, "dims": model.dims if model.delay_mode == "spatial" else 0,
            "distance_cost": self.settings.train.distance_cost, "best_epoch": self.best["epoch"],
            "epochs_run": self.epoch,
            "train_accuracy": best_row.get("train_accuracy"), "val_accuracy": best_row.get("val_accuracy"),
            "test_accuracy": best_row.get("test_accuracy"),
            "trainable_params": self.model.recurrent_trainable_count(),
            "total_params": self.model.trainable_count(),
            "initial_spike_rate_hz": self.rows[0]["spike_rate_hz"] if self.rows else None,
            "spike_rate_hz": best_row.get("spike_rate_hz"),
            "seconds_per_epoch": (float(np.mean([r["seconds"] for r in self.rows if r["epoch"] > 0]))
                                  if len(self.rows) > 1 else 0.0),
            "device": str(self.device),
            "backend": resolve_backend(self.settings.model.backend, self.device),  # of the last attempt
            "gradient": self.settings.train.gradient,
            "delay_clamp_share": best_row.get("delay_clamp_share"),  # of the selected model; None without delays
            **self._end_of_run(),
        }
        self._tick()
        summary.update(train_seconds=self.elapsed["wall"], train_cpu_seconds=self.elapsed["cpu"])
        run_io.write_summary(self.run_dir, summary)
        return summary


def train(settings: RunSettings, run_dir: str | Path, **kwargs) -> dict[str, Any]:
    """Train one run to completion (resuming if a checkpoint exists) and return its summary."""
    return Trainer(settings, run_dir, **kwargs).run()


def _weight_gradient_norm(model: torch.nn.Module) -> float:
    """The Euclidean norm of this batch's gradient over the weights (input, recurrent, output): the log's
    median and maximum per epoch show whether a jump in the loss follows a burst in the gradient."""
    return float(torch.sqrt(sum(param.grad.detach().pow(2).sum() for param in model.weight_parameters()
                                if param.grad is not None)))


def _clip_gradients(model: torch.nn.Module, norm: float, limit: float | None) -> bool:
    """Scale every gradient (weights and delays alike) by limit / norm where the weights' norm exceeds the limit."""
    if limit is None or norm <= limit:
        return False
    for param in model.parameters():
        if param.grad is not None:
            param.grad.mul_(limit / norm)
    return True


def same_run(saved: dict[str, Any], current: dict[str, Any]) -> bool:
    """Whether a checkpoint's settings are this run's: equal except for `model.backend`, which picks the loop that
    computes the same spikes and gradients (to float rounding), so a run resumes on either backend."""
    def without_backend(settings: dict[str, Any]) -> dict[str, Any]:
        return {**settings, "model": {k: v for k, v in settings.get("model", {}).items() if k != "backend"}}

    return without_backend(saved) == without_backend(current)

"""The files of a run directory (see docs/architecture.md): the one place that knows their names and layout."""

from __future__ import annotations

import csv
import datetime
import errno
import fcntl
import json
import os
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import CheckpointError, DataError, RunLockedError
from ..io_utils import NO_FLOCK, atomic_path

MODEL = "model.pt"
CHECKPOINT = "checkpoint.pt"
PREVIOUS_CHECKPOINT = "checkpoint.prev.pt"
LOG = "log.csv"
SNAPSHOTS = "snapshots.npz"
SUMMARY = "summary.json"
TRAIN_LOG = "train.log"
LOCK = "train.lock"  # held while a `spacetime-snn train` process writes the run (RunLock)
OUTPUTS = (MODEL, LOG, SNAPSHOTS, SUMMARY)  # what the training rule declares; written last, once training ended
# delay_clamp_share: share of recurrent delays at the clamp (empty without delays; loop.Trainer._clamp_share);
# grad_norm_median / grad_norm_max: the epoch's batches' gradient norm over the weights (what a jump follows),
# before clipping; clipped_batches: how many of them train.surrogate_clip_factor scaled down
LOG_COLUMNS = ("epoch", "loss", "train_accuracy", "val_accuracy", "test_accuracy", "spike_rate_hz",
               "delay_clamp_share", "grad_norm_median", "grad_norm_max", "clipped_batches", "seconds")


@dataclass
class NetworkArrays:
    """A trained network as numpy arrays for analysis. Weights are [pre, post]; delays are in steps."""

    w_in: np.ndarray
    w_rec: np.ndarray
    w_out: np.ndarray
    delays: np.ndarray | None
    positions: np.ndarray | None
    delay_mode: str
    identifiers: dict[str, Any] = field(default_factory=dict)


def _torch_save(obj: Any, tmp: Path) -> None:
    """torch.save through a Python file object: a failed write then raises the OSError (e.g. ENOSPC, which
    atomic_path reports as a full disk) instead of torch's `[enforce fail at inline_container.cc]`."""
    with open(tmp, "wb") as handle:
        torch.save(obj, handle)


class RunLog:
    """The history of a run's training attempts, appended to `<run>/train.log` (and printed).

    Snakemake deletes a job's log before it reruns the job, never this file (it is not a declared output), so the
    log of a resumed run keeps the attempts that were killed: each starts with an `attempt started` line, and a
    resumed one says `resumed <run> after epoch N`. Nothing is written before the run directory exists (bad data
    stops a run before it is created); writing is best effort, so a full disk is reported by the checkpoint's
    writer, not by the log.
    """

    def __init__(self, run_dir: str | Path, stream=None):
        self.path = Path(run_dir) / TRAIN_LOG
        self.stream = stream
        self.pending: list[str] = []

    def __call__(self, message: str) -> None:
        print(message, file=self.stream or sys.stdout, flush=True)
        self.record(message)

    def record(self, message: str) -> None:
        """Append `message` to the file only (e.g. an error the CLI prints itself)."""
        stamp = datetime.datetime.now().isoformat(sep=" ", timespec="seconds")
        self.pending += [f"[{stamp}] {line}" for line in message.splitlines() or [""]]
        if not self.path.parent.is_dir():
            return
        try:
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write("\n".join(self.pending) + "\n")
            self.pending.clear()
        except OSError:
            pass

    def start_attempt(self, command: str) -> None:
        self(f"attempt started: {command} (host {socket.gethostname()}, pid {os.getpid()})")


class RunLock:
    """One writer per run directory: `<run>/train.lock`, flock-ed for the life of the training process.

    The lock is the kernel's (flock): it is released when the process ends in any way, SIGKILL included, so a
    lock file left by a dead process on this host is simply taken over (with a notice). The file also says who
    holds it (pid, host, start, SLURM job), for the message a second writer gets and for a lock of another host:
    on a shared file system whose locks do not reach across hosts (NFS without lockd, some Lustre mounts), this
    host cannot tell whether that process still runs, so it refuses and says how to remove the lock - except
    for a SLURM job requeued onto another node (same SLURM_JOB_ID: SLURM requeues a job only once its previous
    run has ended) or a SLURM job that `squeue` no longer lists: those take the lock over with a notice.
    """

    def __init__(self, run_dir: str | Path):
        self.path = Path(run_dir) / LOCK
        self.handle = None

    @staticmethod
    def owner_record() -> dict[str, Any]:
        return {"pid": os.getpid(), "host": socket.gethostname(),
                "started": datetime.datetime.now().isoformat(sep=" ", timespec="seconds"),
                "command": " ".join(sys.argv), "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
                "slurm_restart_count": os.environ.get("SLURM_RESTART_COUNT")}

    def acquire(self) -> list[str]:
        """Take the lock or raise RunLockedError; returns notices (a stale lock taken over)."""
        kernel_lock = True
        while True:
            handle = open(self.path, "a+", encoding="utf-8")
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as error:
                if error.errno in NO_FLOCK:  # e.g. Lustre mounted without flock: judged by the record alone
                    kernel_lock = False
                    break
                handle.close()
                if error.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                raise RunLockedError(self._held_message(self._read_owner())) from None
            try:  # the holder before us may have removed the file between our open and our flock: retry
                same_file = os.fstat(handle.fileno()).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same_file = False
            if same_file:
                break
            handle.close()
        notices = []
        previous = self._read_owner()
        if previous and not kernel_lock and _alive_here(previous):
            handle.close()
            raise RunLockedError(self._held_message(previous))
        if previous:
            notice = self._stale_notice(previous)
            if notice is None:
                handle.close()
                raise RunLockedError(self._other_host_message(previous))
            notices.append(notice)
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(self.owner_record(), sort_keys=True) + "\n")
        handle.flush()
        self.handle = handle
        return notices

    def release(self) -> None:
        """Remove the lock file and let go (a process that dies instead leaves the file: taken over later)."""
        if self.handle is None:
            return
        try:
            self.path.unlink()
        except OSError:
            pass
        self.handle.close()
        self.handle = None

    def _read_owner(self) -> dict[str, Any]:
        try:
            owner = json.loads(self.path.read_text(encoding="utf-8") or "{}")
        except (OSError, ValueError):
            return {}
        return owner if isinstance(owner, dict) else {}

    def _stale_notice(self, owner: dict[str, Any]) -> str | None:
        """The notice for taking over a lock file nobody holds, or None when that cannot be known (other host)."""
        who = _who(owner)
        if owner.get("host") == socket.gethostname():
            return f"notice: {self.path}: taking over the lock of {who}, which ended without releasing it"
        job = owner.get("slurm_job_id")
        if job and job == os.environ.get("SLURM_JOB_ID"):
            return (f"notice: {self.path}: taking over the lock of {who}: the same SLURM job {job}, requeued "
                    f"(SLURM restarts a job only after its previous run ended)")
        if job and _slurm_job_ended(job):
            return f"notice: {self.path}: taking over the lock of {who}: `squeue` no longer lists SLURM job {job}"
        return None

    def _held_message(self, owner: dict[str, Any]) -> str:
        who = _who(owner) if owner else "another process (the lock file does not say which)"
        here = owner.get("host") in (None, socket.gethostname())
        stop = f"`kill {owner['pid']}`" if here and owner.get("pid") else f"on host {owner.get('host')}: `kill {owner.get('pid')}`"
        return (f"{self.path.parent}: another training process writes this run directory: {who}. A second writer "
                f"would overwrite its checkpoints and outputs, so nothing was changed. Fix: wait for it to finish "
                f"(its progress is in {self.path.parent / TRAIN_LOG}), or stop it ({stop}) and rerun this command "
                f"(it resumes from the checkpoint when the settings are equal), or give this run another --out.")

    def _other_host_message(self, owner: dict[str, Any]) -> str:
        return (f"{self.path}: the run directory is locked by {_who(owner)}, on another host than this one "
                f"({socket.gethostname()}); from here it cannot be told whether that process still runs (on a "
                f"shared file system locks may not reach across hosts). Nothing was changed. Fix: if that process "
                f"has ended (check on {owner.get('host')}: `ps -p {owner.get('pid')}`, or `squeue` for its SLURM "
                f"job), remove the lock with `rm {self.path}` and rerun this command; otherwise wait for it.")


def _alive_here(owner: dict[str, Any]) -> bool:
    """Whether the owner record names a process of this host that still runs (not this one)."""
    if owner.get("host") != socket.gethostname() or not isinstance(owner.get("pid"), int):
        return False
    if owner["pid"] == os.getpid():
        return False
    try:
        os.kill(owner["pid"], 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by another user
        return True
    return True


def _who(owner: dict[str, Any]) -> str:
    text = f"pid {owner.get('pid')} on host {owner.get('host')}, started {owner.get('started')}"
    if owner.get("slurm_job_id"):
        text += f", SLURM job {owner['slurm_job_id']}"
    return text + (f" (`{owner['command']}`)" if owner.get("command") else "")


def _slurm_job_ended(job: str) -> bool:
    """Whether `squeue` (when this host has it) no longer lists SLURM job `job`; False when unknown."""
    if shutil.which("squeue") is None:
        return False
    try:
        listed = subprocess.run(["squeue", "-h", "-j", str(job), "-o", "%i"], capture_output=True, text=True,
                                timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    if listed.returncode != 0:  # squeue fails with "Invalid job id specified" for a job it has purged
        return "Invalid job id" in listed.stderr
    return not listed.stdout.strip()


def save_torch(obj: Any, path: Path) -> None:
    with atomic_path(path) as tmp:
        _torch_save(obj, tmp)


def rerun_training_fix(path: Path) -> str:
    """How to rewrite `path`, a damaged output of a training run, with commands that work.

    Deleting the file is not enough under Snakemake: a missing intermediate file does not make it rerun the job
    ("Nothing to be done" while the files built from it exist), so the fix forces the job that writes it.
    `--forcerun=FILE` with "=": without it the option takes every word after it, targets included.
    """
    run_dir = path.parent
    study = _study_of(run_dir)
    settings = run_dir / "settings.json"
    if study is None or not settings.exists():  # not laid out by the workflow: trained by hand
        return (f"Fix: rerun the `spacetime-snn train` command that made this run (it resumes from "
                f"{run_dir / CHECKPOINT} if present and rewrites {path.name}).")
    from ..study import configfile_option  # local: the plan is not needed to write or read a run

    return (f"Fix: `snakemake --cores 1{configfile_option(study)} --forcerun={path}` retrains this run (resuming "
            f"from its checkpoint, so usually in seconds) and redoes what was built from it; without Snakemake: "
            f"`spacetime-snn train --settings @{settings} --out {run_dir}`.")


def _study_of(run_dir: Path) -> str | None:
    """The study name in a run directory's path, results/<study>/runs/<condition>/h<hidden>/s<seed>."""
    parts = run_dir.parts
    return parts[-5] if len(parts) >= 5 and parts[-4] == "runs" else None


def unreadable(path: Path, error: BaseException) -> str:
    return f"{path}: cannot be read ({type(error).__name__}: {error}); it is corrupt or truncated"


def _numpy_array_globals() -> list[Any]:
    """What torch's restricted unpickler needs to rebuild numpy arrays: checkpoints written before snapshots were
    stored as tensors hold them. Still the restricted unpickler: an array's content is bytes (or, for an object
    array, items that are themselves restricted), so no code from the file can run."""
    core = getattr(np, "_core", None) or np.core
    numeric_dtypes = [type(np.dtype(code)) for code in "?bBhHiIlLqQefdgFDG"]  # bool, integers, floats, complex
    return [core.multiarray._reconstruct, np.ndarray, np.dtype, *numeric_dtypes]


def load_torch(path: Path) -> Any:
    """A torch file of a run, loaded with `weights_only=True`: tensors, numbers, text, lists, dicts (and numpy
    arrays, for older checkpoints), never arbitrary Python objects, so a model.pt from someone else cannot run code.

    An unreadable checkpoint raises CheckpointError (the trainer falls back to the previous one); an unreadable run
    output (model.pt) raises it with the commands that rewrite the file.
    """
    try:
        with torch.serialization.safe_globals(_numpy_array_globals()):
            return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as error:  # torch raises many kinds for a truncated or foreign file
        text = str(error)
        foreign = next((line.strip() for line in text.splitlines()
                        if "Unsupported global" in line or "Can only build" in line), None)
        if foreign is not None:
            message = (f"{path}: holds Python objects other than tensors and plain data ({foreign[:200]}); it is not "
                       f"loaded, because unpickling them could run code carried by the file. Files written by "
                       f"`spacetime-snn train` hold only tensors and plain data: if this one came from someone "
                       f"else, ask for the run's model.pt as written by spacetime-snn")
        elif "Weights only load failed" in text:  # a damaged file the restricted unpickler cannot parse
            reason = text.split("WeightsUnpickler error:", 1)[-1].split("Check the documentation")[0].strip()
            message = unreadable(path, type(error)(reason or "not a torch file"))
        else:
            message = unreadable(path, error)
        if path.name == MODEL:
            message += f". {rerun_training_fix(path)}"
        raise CheckpointError(message) from error


def _snapshots_as(state: dict[str, Any], convert) -> dict[str, Any]:
    """The checkpoint's snapshots converted array by array (numpy <-> tensor: a checkpoint holds plain data)."""
    snapshots = state.get("snapshots") if isinstance(state, dict) else None
    if not isinstance(snapshots, dict):
        return state
    return {**state, "snapshots": {key: [convert(value) for value in values] for key, values in snapshots.items()}}


def save_checkpoint(run_dir: Path, state: dict[str, Any]) -> None:
    """Write the checkpoint atomically, keeping the one before it in case this one is ever found corrupt."""
    current = run_dir / CHECKPOINT
    state = _snapshots_as(state, lambda array: torch.tensor(np.asarray(array)))  # plain data only (0-d kept 0-d)
    with atomic_path(current) as tmp:
        _torch_save(state, tmp)
        if current.exists():
            current.replace(run_dir / PREVIOUS_CHECKPOINT)


CHECKPOINT_KEYS = ("settings", "epoch", "model", "weight_opt", "delay_opt", "rows", "snapshots", "best",
                   "stale_epochs", "finished")
MODEL_KEYS = ("settings", "state_dict", "epoch", "num_inputs", "num_outputs")


def _require_keys(path: Path, content: Any, keys: tuple[str, ...], what: str) -> None:
    """A torch file that loads but holds something else (a model.pt copied over a checkpoint) is unreadable too."""
    missing = [key for key in keys if not isinstance(content, dict) or key not in content]
    if missing:
        held = sorted(map(str, content)) if isinstance(content, dict) else type(content).__name__
        raise CheckpointError(f"{path}: a readable torch file, but not {what}: it lacks {', '.join(missing)} "
                              f"(it holds {held}; was another file copied over it?)")


def load_latest_checkpoint(run_dir: Path) -> tuple[dict[str, Any] | None, list[str]]:
    """The newest readable checkpoint (or None) and warnings about unreadable ones that were skipped."""
    warnings = []
    for name in (CHECKPOINT, PREVIOUS_CHECKPOINT):
        path = run_dir / name
        if not path.exists():
            continue
        try:
            state = load_torch(path)
            _require_keys(path, state, CHECKPOINT_KEYS, "a training checkpoint")
            return _snapshots_as(state, lambda value: value.numpy() if torch.is_tensor(value) else value), warnings
        except CheckpointError as error:
            warnings.append(str(error))
    return None, warnings


def set_aside_checkpoints(run_dir: Path) -> list[Path]:
    """Rename the checkpoints to *.stale.pt (kept, never resumed from) and return their new paths."""
    moved = []
    for name in (CHECKPOINT, PREVIOUS_CHECKPOINT):
        path = run_dir / name
        if path.exists():
            moved.append(path.replace(path.with_suffix(".stale.pt")))
    return moved


def write_log(run_dir: Path, rows: list[dict[str, Any]]) -> None:
    with atomic_path(run_dir / LOG) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=LOG_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def write_snapshots(run_dir: Path, snapshots: dict[str, list[np.ndarray]]) -> None:
    arrays = {key: np.stack(values) for key, values in snapshots.items() if values}
    with atomic_path(run_dir / SNAPSHOTS) as tmp:
        with open(tmp, "wb") as handle:
            np.savez_compressed(handle, **arrays)


def load_snapshots(run_dir: str | Path) -> dict[str, np.ndarray]:
    """epochs (E,), w_rec (E, N, N), and delays (E, N, N) / positions (E, N, D) where the mode has them.

    A missing file raises FileNotFoundError; a damaged one DataError with the commands that rewrite it.
    """
    path = Path(run_dir) / SNAPSHOTS
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except FileNotFoundError:
        raise
    except Exception as error:  # a damaged .npz: BadZipFile, EOFError, zlib.error, ValueError, OSError, ...
        raise DataError(f"{unreadable(path, error)}. {rerun_training_fix(path)}") from error


def write_summary(run_dir: Path, summary: dict[str, Any]) -> None:
    with atomic_path(run_dir / SUMMARY) as tmp:
        tmp.write_text(json.dumps(summary, indent=2, sort_keys=True))


def load_summary(run_dir: str | Path) -> dict[str, Any]:
    return json.loads((Path(run_dir) / SUMMARY).read_text())


def load_model_file(run_dir: str | Path) -> dict[str, Any]:
    """The selected model: {"settings": dict, "state_dict": ..., "epoch": int, "num_inputs", "num_outputs"}.

    A missing run directory or model.pt, or a model.pt holding something else, raises DataError / CheckpointError
    naming the file and the command that (re)trains the run.
    """
    path = Path(run_dir) / MODEL
    try:
        saved = load_torch(path)
    except FileNotFoundError as error:
        if not path.parent.is_dir():
            raise DataError(f"{path.parent}: no such run directory. Fix: pass the directory of a trained run (one "
                            f"that holds {MODEL}; `ls results/*/runs/*/*/*/{MODEL}` lists those of the studies), "
                            f"or train it first: `spacetime-snn train --settings @SETTINGS --out {path.parent}`."
                            ) from error
        raise DataError(f"{path}: not found: the run has not finished training. {rerun_training_fix(path)}") from error
    try:
        _require_keys(path, saved, MODEL_KEYS, "a model file")
    except CheckpointError as error:
        raise CheckpointError(f"{error}. {rerun_training_fix(path)}") from None
    return saved


def load_network(run_dir: str | Path) -> NetworkArrays:
    """The selected model's arrays, with its delays evaluated from whatever parameterises them."""
    from .build import model_from_file  # local: keeps this module free of the model at import time

    saved = load_model_file(run_dir)
    model = model_from_file(saved)
    with torch.no_grad():
        delays = model.recurrent_delays()
        positions = getattr(model.recurrent_delays, "position", None)
    settings = saved["settings"]
    return NetworkArrays(
        w_in=model.w_in.detach().numpy().copy(),
        w_rec=model.w_rec.detach().numpy().copy(),
        w_out=model.w_out.detach().numpy().copy(),
        delays=None if delays is None else delays.numpy().copy(),
        positions=None if positions is None else positions.detach().numpy().copy(),
        delay_mode=settings["model"]["delay_mode"],
        identifiers=dict(settings.get("run", {})),
    )

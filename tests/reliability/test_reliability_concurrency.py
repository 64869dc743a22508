"""Two `spacetime-snn train` processes (different seeds) started together on a data set that is not binned yet:
the binned cache is written once, atomically, and both runs succeed on identical data.

Each process is the CLI's entry point with two probes: a barrier (both finish importing before either loads the
data, so that they race for the cache) and a record of every cache write (slowed by 1 s, so that the other process
arrives while it is in progress) and of the data each run received.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap

import numpy as np

from reliability_helpers import RUN_OUTPUTS, files, quiet_env, settings
from spacetime_snn.data.dataset import load_train_test

CHILD = textwrap.dedent(
    """
    import hashlib, json, sys, time
    from pathlib import Path

    import numpy as np

    from spacetime_snn.cli import main
    from spacetime_snn.data import dataset
    from spacetime_snn.training import build

    probes, name, argv = Path(sys.argv[1]), sys.argv[2], sys.argv[3:]
    real_save, real_load = dataset._save, build.load_train_test

    def save(binned, target):
        (probes / f"cache-write-{name}-{target.name}").touch()
        time.sleep(1.0)
        real_save(binned, target)

    def load(*args, **kwargs):
        train, test = real_load(*args, **kwargs)
        digest = {split: hashlib.sha256(b"".join(np.ascontiguousarray(getattr(ds, f)).tobytes()
                                                 for f in ("times", "units", "offsets", "labels"))).hexdigest()
                  for split, ds in (("train", train), ("test", test))}
        (probes / f"data-{name}.json").write_text(json.dumps(digest))
        return train, test

    dataset._save, build.load_train_test = save, load
    (probes / f"ready-{name}").touch()
    deadline = time.monotonic() + 120
    while len(list(probes.glob("ready-*"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    sys.exit(main(argv))
    """
)


def digest(train, test) -> dict[str, str]:
    return {split: hashlib.sha256(b"".join(np.ascontiguousarray(getattr(ds, f)).tobytes()
                                           for f in ("times", "units", "offsets", "labels"))).hexdigest()
            for split, ds in (("train", train), ("test", test))}


def test_two_runs_share_one_cache_written_once(fresh_data, tmp_path):
    probes = tmp_path / "probes"
    probes.mkdir()
    runs = {"seed1": tmp_path / "runs" / "s1", "seed2": tmp_path / "runs" / "s2"}
    children = {
        name: subprocess.Popen(
            [sys.executable, "-c", CHILD, str(probes), name, "train", "--settings",
             json.dumps(settings(fresh_data, seed=int(name[-1]))), "--out", str(run_dir), "--threads", "1"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=quiet_env())
        for name, run_dir in runs.items()
    }
    outputs = {name: child.communicate(timeout=180)[0] for name, child in children.items()}
    for name, child in children.items():
        assert child.returncode == 0, outputs[name][-3000:]
        assert set(RUN_OUTPUTS) <= set(files(runs[name]))

    writes = sorted(p.name for p in probes.glob("cache-write-*"))
    assert len(writes) == 2, f"each split must be binned once, not {writes}"  # train and test
    assert {w.rsplit("-", 2)[-2] for w in writes} == {"train", "test"}
    cache = fresh_data / "cache"
    assert sorted(p.suffix for p in cache.iterdir() if not p.name.endswith(".lock")) == [".npz", ".npz"]
    assert not [p for p in cache.iterdir() if p.name.startswith(".")], "a temporary cache file was left behind"

    seen = [json.loads((probes / f"data-{name}.json").read_text()) for name in runs]
    assert seen[0] == seen[1], "the two runs trained on different data"
    assert seen[0] == digest(*load_train_test(fresh_data, dt_ms=2.0)), "the cached data differ from a fresh binning"

"""Our EventProp against mlGeNN (the authors' simulator) on small networks, through benchmarks/mlgenn_oracle.py.

Runs only where pygenn (GeNN 5.4.0) and ml_genn (2.3.1) are installed; docs/fidelity.md, "The mlGeNN oracle", has
the recipe and the measured table these bounds come from. The two forward models differ by design (ours places a
spike within its step and resets there), so the checks are: mlGeNN's forward model is exactly our hard-reset one;
the weight and delay gradients agree in direction and converge as dt shrinks; the spike regulariser has mlGeNN's
weight against the cross-entropy.
"""

import importlib.util
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

REASON = ("mlGeNN oracle: {} is not installed (GeNN 5.4.0 and mlGeNN 2.3.1 from source; "
          "docs/fidelity.md, 'The mlGeNN oracle', has the recipe)")
pytest.importorskip("pygenn", reason=REASON.format("pygenn"))
pytest.importorskip("ml_genn", reason=REASON.format("ml_genn"))

pytestmark = pytest.mark.oracle

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "mlgenn_oracle.py"
_SPEC = importlib.util.spec_from_file_location("mlgenn_oracle", _PATH)
oracle = importlib.util.module_from_spec(_SPEC)
sys.modules.setdefault("mlgenn_oracle", oracle)  # its dataclasses look their module up there
_SPEC.loader.exec_module(oracle)


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("mlgenn_code"))


def cosine(a, b):
    a, b = np.ravel(a), np.ravel(b)
    return float(a @ b / np.sqrt((a @ a) * (b @ b)))


@pytest.mark.parametrize("name", ["no_delays", "delays_0-10"])
def test_mlgenn_forward_is_our_hard_reset_model(name, build_dir):
    """Same spikes (steps and neurons) and the same readout to float32 precision: the input gain (scale_i), the
    time alignment, the delays (arrival at t + 1 + d) and the readout agree with mlGeNN's."""
    case = oracle.case_named(name)
    numbers = oracle.draw(case)
    theirs = oracle.run_mlgenn(case, numbers, build_dir)
    ours = oracle.hard_reset_forward(case, numbers)
    assert theirs.spikes == ours.spikes and len(ours.spikes) > 2 * case.hidden
    assert oracle.differences(ours.logits, theirs.logits)[1] < 1e-5
    assert abs(ours.loss - theirs.loss) < 1e-5
    # mlGeNN's dL/dw_out against the exact one of its own forward model: its backward's O(dt) error (3 % at dt 1)
    assert 0.01 < oracle.differences(theirs.grads["w_out"], ours.grads["w_out"])[1] < 0.05


def test_gradients_agree_in_direction_and_converge_with_dt(build_dir):
    """Weights: the same direction at dt 1 ms (cosine > 0.9) and closer at dt 0.25 ms (> 0.99); the delay gradients
    too, from far apart at dt 1 ms to cosine > 0.95 at 0.25 ms (docs/fidelity.md says why)."""
    base = oracle.case_named("seed_5")
    shapes = {}
    for dt in (1.0, 0.25):
        case = replace(base, dt_ms=dt)
        numbers = oracle.draw(case)
        theirs = oracle.run_mlgenn(case, numbers, build_dir)
        ours = oracle.run_ours(case, numbers)
        shapes[dt] = {q: cosine(ours.grads[q], theirs.grads[q]) for q in oracle.GRADIENTS}
        scale = ours.grads["w_out"].ravel() @ theirs.grads["w_out"].ravel() / (theirs.grads["w_out"] ** 2).sum()
        assert 1.0 < scale < 1.0 + 0.1 * dt  # mlGeNN's Gradient is dL/dw / tau_mem, less O(dt)
    assert min(shapes[1.0][q] for q in ("w_in", "w_rec", "w_out")) > 0.9
    assert min(shapes[0.25][q] for q in ("w_in", "w_rec", "w_out")) > 0.99
    assert shapes[0.25]["delays"] > 0.95 and shapes[0.25]["delays"] > shapes[1.0]["delays"] + 0.2


def test_spike_regulariser_has_mlgenn_weight(build_dir):
    """The regulariser's part of the gradient (with it minus without it) equals mlGeNN's at dt 0.25 ms, where both
    discretisations are close to their limit: `eventprop.regulariser_gain` is mlGeNN's LambdaV jump in dL/dV."""
    case = replace(oracle.case_named("regulariser"), dt_ms=0.25)
    numbers = oracle.draw(case)
    plain = replace(case, reg=None)
    theirs = {c.reg is None: oracle.run_mlgenn(c, numbers, build_dir) for c in (case, plain)}
    ours = {c.reg is None: oracle.run_ours(c, numbers) for c in (case, plain)}
    for q in ("w_in", "w_rec"):
        mine = ours[False].grads[q] - ours[True].grads[q]
        reference = theirs[False].grads[q] - theirs[True].grads[q]
        ratio = mine.ravel() @ reference.ravel() / (reference ** 2).sum()
        assert cosine(mine, reference) > 0.98 and abs(ratio - 1.0) < 0.05, (q, ratio)

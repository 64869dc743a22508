"""Where in space each input channel lands: preferred positions of input channels, and how well a hidden neuron's
input weights predict its position.

Positions are the hidden neurons' learned coordinates ((N, D), in delay units = time steps). Event arrays are
int arrays of shape (E, 3) with columns (sample, step, index): the sample's number in the recorded set, the time
step (bin of dt_ms) and the input channel (input events) or hidden neuron (hidden spike events). Both arrays must
number samples and steps the same way. A channel with no weight or no response has no preferred position (NaN).
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

# Samples per block when counting responses: bounds memory (window x hidden spikes per block) on a full test set.
_SAMPLES_PER_BLOCK = 64


def centre_of_mass(weights: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Weighted mean position, (..., N) non-negative weights over (N, D) positions -> (..., D); NaN if all 0."""
    weights = np.asarray(weights, dtype=np.float64)
    total = weights.sum(axis=-1, keepdims=True)
    weighted = weights @ np.asarray(positions, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, weighted / total, np.nan)


def preferred_positions_from_weights(w_in: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """(C, D): each channel's centre of mass of hidden positions weighted by |W_in[c, :]| (w_in is (C, N))."""
    return centre_of_mass(np.abs(w_in), positions)


def _check_events(events: np.ndarray, name: str) -> np.ndarray:
    """The (E, 3) integer event array, validated; its integer type is kept (no copy of ~2e7 SHD test events)."""
    events = np.asarray(events)
    if events.size == 0:
        events = events.reshape(0, 3).astype(np.int64)
    if not np.issubdtype(events.dtype, np.integer):
        raise ValueError(f"{name} must hold integers (sample, step, index), got {events.dtype}")
    if events.ndim != 2 or events.shape[1] != 3:
        raise ValueError(f"{name} must have shape (E, 3) with columns (sample, step, index), got {events.shape}")
    if (events < 0).any():
        raise ValueError(f"{name} holds negative samples, steps or indices")
    return events


def _windowed_hidden(hidden: np.ndarray, first_sample: int, samples: int, steps: int, num_hidden: int,
                     window_steps: int) -> sparse.csr_matrix:
    """((samples * steps), N): row (s, t) counts each neuron's spikes in steps [t, t + window_steps) of sample s.

    A hidden spike at step tau is counted in the rows t = tau - window_steps + 1 .. tau.
    """
    lags = np.arange(window_steps)
    starts = hidden[:, 1, None] - lags[None, :]
    valid = starts >= 0
    rows = ((hidden[:, 0, None] - first_sample) * steps + starts)[valid]
    cols = np.broadcast_to(hidden[:, 2, None], starts.shape)[valid]
    return sparse.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(samples * steps, num_hidden))


def _group_responses(inputs: np.ndarray, groups: np.ndarray, num_groups: int, hidden: np.ndarray,
                     num_hidden: int, window_steps: int) -> np.ndarray:
    """(num_groups, N): hidden spikes in the window after each input event, summed per group of input events."""
    steps = int(max(inputs[:, 1].max(initial=0), hidden[:, 1].max(initial=0))) + 1
    last_sample = int(max(inputs[:, 0].max(initial=0), hidden[:, 0].max(initial=0)))
    responses = np.zeros((num_groups, num_hidden))
    for first in range(0, last_sample + 1, _SAMPLES_PER_BLOCK):
        in_block = (inputs[:, 0] >= first) & (inputs[:, 0] < first + _SAMPLES_PER_BLOCK)
        spikes = hidden[(hidden[:, 0] >= first) & (hidden[:, 0] < first + _SAMPLES_PER_BLOCK)]
        if not in_block.any() or spikes.size == 0:
            continue
        block = inputs[in_block]
        columns = (block[:, 0] - first) * steps + block[:, 1]
        incidence = sparse.csr_matrix((np.ones(len(block)), (groups[in_block], columns)),
                                      shape=(num_groups, _SAMPLES_PER_BLOCK * steps))
        window = _windowed_hidden(spikes, first, _SAMPLES_PER_BLOCK, steps, num_hidden, window_steps)
        responses += (incidence @ window).toarray()
    return responses


def response_counts(input_events: np.ndarray, hidden_events: np.ndarray, num_channels: int, num_hidden: int,
                    window_steps: int = 5) -> np.ndarray:
    """(C, N): for each channel c and hidden neuron n, the number of spikes of n within `window_steps` steps
    from a spike of c (steps t .. t + window_steps - 1 for an input spike at step t: the input acts in its own
    step, so a hidden spike in that step can be its response). Paper: 5 steps = 5 ms."""
    inputs = _check_events(input_events, "input_events")
    hidden = _check_events(hidden_events, "hidden_events")
    return _group_responses(inputs, inputs[:, 2], num_channels, hidden, num_hidden, window_steps)


def preferred_positions_from_activity(input_events: np.ndarray, hidden_events: np.ndarray, positions: np.ndarray,
                                      num_channels: int, window_steps: int = 5) -> np.ndarray:
    """(C, D): each channel's centre of mass of the positions of the hidden spikes that follow its spikes."""
    counts = response_counts(input_events, hidden_events, num_channels, positions.shape[0], window_steps)
    return centre_of_mass(counts, positions)


def preferred_positions_over_time(input_events: np.ndarray, hidden_events: np.ndarray, positions: np.ndarray,
                                  num_channels: int, bin_steps: int, window_steps: int = 5) -> np.ndarray:
    """(B, C, D): the activity map computed separately for input spikes in each time bin.

    Bin b holds the input spikes at steps [b * bin_steps, (b + 1) * bin_steps); B covers the last event.
    """
    if bin_steps < 1:
        raise ValueError(f"bin_steps must be at least 1, got {bin_steps}")
    inputs = _check_events(input_events, "input_events")
    hidden = _check_events(hidden_events, "hidden_events")
    bins = int(inputs[:, 1].max(initial=0)) // bin_steps + 1
    groups = (inputs[:, 1] // bin_steps) * num_channels + inputs[:, 2]
    counts = _group_responses(inputs, groups, bins * num_channels, hidden, positions.shape[0], window_steps)
    return centre_of_mass(counts.reshape(bins, num_channels, -1), positions)


def _ridge_predict(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, alpha: float) -> np.ndarray:
    """Ridge regression with intercept, solved in its dual form: an (n_train x n_train) system, smaller than
    the (features x features) one when there are more input channels (700) than hidden neurons (128)."""
    x_mean, y_mean = x_train.mean(axis=0), y_train.mean(axis=0)
    centred = x_train - x_mean
    dual = np.linalg.solve(centred @ centred.T + alpha * np.eye(len(centred)), y_train - y_mean)
    return (x_test - x_mean) @ (centred.T @ dual) + y_mean


RIDGE_METHODS = ("cv", "in_sample")


def _r2(y: np.ndarray, predicted: np.ndarray) -> float:
    """R² = 1 - SS_res / SS_tot per coordinate, averaged over coordinates (sklearn's r2_score, uniform average)."""
    residual = ((y - predicted) ** 2).sum(axis=0)
    total = ((y - y.mean(axis=0)) ** 2).sum(axis=0)
    return float(np.mean(1.0 - residual / total))


def ridge_r2(w_in: np.ndarray, positions: np.ndarray, alpha: float = 1.0, folds: int = 5, seed: int = 0,
             method: str = "cv") -> float:
    """R² of ridge regression (penalty `alpha`, with intercept) from each hidden neuron's input-weight vector
    (a column of w_in (C, N)) to its position ((N, D)), averaged over the D coordinates.

    method "cv" (this project): neurons are split into `folds` folds (shuffled with `seed`); each fold is predicted
    by a model fitted on the others, and R² is computed over all held-out predictions. Near 1: input weights encode
    position; about 0 or negative: they do not (e.g. a random network).
    method "in_sample" (the authors' regression_input_pos.py: sklearn Ridge(alpha=1) fitted and scored on the same
    neurons): with more input channels than neurons the fit can explain positions it has not learnt, so this R²
    is high for untrained networks too; compare it only with the in-sample R² of random networks.
    """
    if method not in RIDGE_METHODS:
        raise ValueError(f"method must be one of {RIDGE_METHODS}, got {method!r}")
    x = np.asarray(w_in, dtype=np.float64).T
    y = np.asarray(positions, dtype=np.float64)
    if method == "in_sample":
        return _r2(y, _ridge_predict(x, y, x, alpha))
    if not 2 <= folds <= len(y):
        raise ValueError(f"folds must lie in [2, {len(y)}] for {len(y)} neurons, got {folds}")
    fold = np.random.default_rng(seed).permutation(len(y)) % folds
    predicted = np.empty_like(y)
    for k in range(folds):
        held_out = fold == k
        predicted[held_out] = _ridge_predict(x[~held_out], y[~held_out], x[held_out], alpha)
    return _r2(y, predicted)

"""The analysis commands: table builders on hand-made arrays, and the CLI on run directories built by hand."""

import numpy as np
import pandas as pd
import pytest

from spacetime_snn.analysis import commands
from spacetime_snn.analysis import controls as controls_module
from spacetime_snn.analysis import graph_metrics as gm
from spacetime_snn.analysis.commands import COLUMNS, IDENTIFIERS, InputMapOptions, MetricOptions
from spacetime_snn.analysis.nulls import NullCache
from spacetime_snn.cli import main
from spacetime_snn.config import settings_from_dict
from spacetime_snn.errors import ConfigError
from spacetime_snn.data.synthetic import SyntheticSpec, generate_synthetic
from spacetime_snn.training import run_io
from spacetime_snn.training.build import build_model

IDS = {"study": "test", "condition": "spatial", "hidden": 8, "seed": 3}
FAST = MetricOptions(binary_nulls=5, weighted_nulls=3, epoch_every=2, prune_fractions=(0.0, 0.3),
                     self_connections="exclude", control_shuffles=2)


def _check(frame, name, rows=None):
    assert list(frame.columns) == list(IDENTIFIERS) + list(COLUMNS[name])
    assert (frame[list(IDENTIFIERS)] == pd.Series(IDS)).all().all()
    if rows is not None:
        assert len(frame) == rows


def _snapshots(rng, epochs=5, n=8):
    return {"epochs": np.arange(epochs), "w_rec": rng.normal(0, 0.02, size=(epochs, n, n))}


def test_metric_tables_over_epochs_final_delays_and_pruning():
    rng = np.random.default_rng(0)
    w_rec, delays = rng.normal(0, 0.02, size=(8, 8)), rng.uniform(0, 5.5, size=(8, 8))
    tables = commands.metric_tables(IDS, w_rec, delays, _snapshots(rng), FAST, NullCache(), max_delay=5)
    dynamics = tables["training_dynamics"]
    _check(dynamics, "training_dynamics")
    assert sorted(dynamics["epoch"].unique()) == [0, 2, 4]
    clamped = delays[~np.eye(8, dtype=bool)] >= 5
    assert tables["final_metrics"].set_index("metric")["value"]["delay_clamp_share"] == pytest.approx(clamped.mean())
    assert {"modularity", "small_worldness", "weight_entropy"} <= set(dynamics["metric"])
    _check(tables["final_metrics"], "final_metrics")
    final = tables["final_metrics"].set_index("metric")["value"]
    assert {"clustering_ratio", "delay_fraction_zero", "delay_max", "delay_iqr"} <= set(final.index)
    _check(tables["delay_histogram"], "delay_histogram", rows=6)
    assert tables["delay_histogram"]["count"].sum() == 8 * 7
    assert set(tables["delay_histogram"]["network"]) == {"trained"}  # the snapshots hold no delays
    pruned = tables["pruned_graph"]
    _check(pruned, "pruned_graph", rows=2)
    assert pruned["small_worldness"].iloc[0] == pytest.approx(1.0)  # nothing removed: complete graph
    controls = tables["control_metrics"]
    _check(controls, "control_metrics")
    assert set(controls["network"]) == {"initial", "shuffled"}
    initial = controls[controls["network"] == "initial"].set_index("metric")["value"]
    epoch0 = dynamics[dynamics["epoch"] == 0].set_index("metric")["value"]
    assert initial.to_dict() == pytest.approx(epoch0.to_dict())  # the initial network is the epoch-0 snapshot


def test_controls_of_a_spatial_run_keep_the_diagonal_and_measure_the_initial_delays():
    rng = np.random.default_rng(3)
    n = 8
    positions = rng.uniform(-1, 1, size=(3, n, 2)) * np.array([1, 5, 10])[:, None, None]
    delays = np.linalg.norm(positions[:, :, None] - positions[:, None], axis=-1)
    snapshots = {"epochs": np.arange(3), "w_rec": rng.normal(0, 0.02, size=(3, n, n)), "delays": delays}
    options = MetricOptions(binary_nulls=3, weighted_nulls=3, epoch_every=1, prune_fractions=(0.0, 0.3),
                            control_shuffles=2)  # self_connections: keep (the authors')
    tables = commands.metric_tables(IDS, snapshots["w_rec"][-1], delays[-1], snapshots, options, NullCache())
    histogram = tables["delay_histogram"]
    assert set(histogram["network"]) == {"trained", "initial"}
    assert histogram.groupby("network")["count"].sum().tolist() == [n * n, n * n]  # every entry, diagonal too
    pruned = tables["pruned_graph"]
    assert set(pruned["network"]) == {"trained", "initial"}
    controls = tables["control_metrics"].pivot(index="metric", columns="network", values="value")
    # The delays of the initial network are those of epoch 0; the shuffled control keeps no delay statistics.
    assert controls.loc["delay_max", "initial"] == pytest.approx(delays[0].max())
    assert np.isnan(controls.loc["delay_max", "shuffled"])
    final = tables["final_metrics"].set_index("metric")["value"]
    assert final["weight_entropy"] != pytest.approx(controls.loc["weight_entropy", "shuffled"])
    # Locality: each network's own weights over its own delays; the shuffled control, permuted weights over the
    # trained delays (self-connections keep theirs).
    w_rec = snapshots["w_rec"]
    assert final["strength_weighted_delay"] == pytest.approx(gm.strength_weighted_delay(w_rec[-1], delays[-1], True))
    assert controls.loc["strength_weighted_delay", "initial"] == pytest.approx(
        gm.strength_weighted_delay(w_rec[0], delays[0], True))
    shuffles = [controls_module.shuffled_weights(w_rec[-1], options.seed, k, True) for k in range(2)]
    assert controls.loc["strength_weighted_delay", "shuffled"] == pytest.approx(
        np.mean([gm.strength_weighted_delay(w, delays[-1], True) for w in shuffles]))


def test_runs_without_delays_get_header_only_delay_tables():
    rng = np.random.default_rng(1)
    tables = commands.metric_tables(IDS, rng.normal(size=(8, 8)), None, _snapshots(rng), FAST, NullCache())
    _check(tables["delay_histogram"], "delay_histogram", rows=0)
    _check(tables["pruned_graph"], "pruned_graph", rows=0)


def test_network_tables_nodes_and_edges():
    w_rec = np.arange(16.0).reshape(4, 4) - 5.0  # one zero weight (pre 1, post 1 is diagonal anyway)
    positions = np.arange(12.0).reshape(4, 3)
    tables = commands.network_tables(IDS, w_rec, positions)
    _check(tables["network_nodes"], "network_nodes", rows=4)
    assert tables["network_nodes"][["x", "y"]].to_numpy().tolist() == positions[:, :2].tolist()
    edges = tables["network_edges"]
    _check(edges, "network_edges", rows=12)
    assert (edges["pre"] != edges["post"]).all()
    assert (edges["weight"] == w_rec[edges["pre"], edges["post"]]).all()
    _check(commands.network_tables(IDS, w_rec, None)["network_nodes"], "network_nodes", rows=0)


def test_input_map_raster_and_ridge_tables():
    rng = np.random.default_rng(2)
    positions = rng.uniform(-1, 1, size=(8, 2))
    w_in = rng.normal(0.3, 0.1, size=(6, 8))
    inputs = np.array([[0, 1, 0], [0, 30, 2], [1, 4, 5]])
    hidden = np.array([[0, 2, 3], [0, 31, 4], [1, 5, 7]])
    options = InputMapOptions(bin_ms=20.0, random_networks=3)
    tables = commands.input_map_tables(IDS, w_in, positions, inputs, hidden, dt_ms=2.0, options=options)
    _check(tables["input_maps"], "input_maps", rows=2 * 6)
    activity = tables["input_maps"].query("method == 'activity'")
    assert np.allclose(activity.loc[activity["channel"] == 0, ["x", "y"]], positions[3])
    timed = tables["input_maps_time"]
    _check(timed, "input_maps_time", rows=3)
    assert timed[["channel", "time_ms"]].to_numpy().tolist() == [[0, 0.0], [5, 0.0], [2, 60.0]]
    raster = commands.raster_table(IDS, inputs, np.array([7, 9]), dt_ms=2.0)
    _check(raster, "input_raster", rows=3)
    assert raster["label"].tolist() == [7, 7, 9] and raster["time_ms"].tolist() == [2.0, 60.0, 8.0]
    init = settings_from_dict({}).model.init
    ridge = commands.ridge_table(IDS, w_in, positions, init, InputMapOptions(random_networks=3, ridge_folds=4))
    _check(ridge, "ridge", rows=14)
    assert ridge["network"].tolist() == (["trained"] + ["random"] * 3 + ["shuffled"] * 3) * 2
    assert ridge["method"].tolist() == ["cv"] * 7 + ["in_sample"] * 7


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic")
    spec = SyntheticSpec(num_channels=24, num_classes=3, num_train=12, num_test=12, group_size=6, seed=0)
    generate_synthetic(spec, root)
    return root


def _hand_built_run(root, data, delay_mode):
    """A run directory with the documented files (model.pt, snapshots.npz) of an untrained network."""
    settings = settings_from_dict({
        "data": {"source": "synthetic", "root": str(data), "dt_ms": 2.0},
        "model": {"hidden": 8, "delay_mode": delay_mode, "max_delay_steps": 10,
                  "init": {"w_in_mean": 0.3, "w_in_std": 0.1, "position_range": 3.0}},
        "seed": 3, "run": {**IDS, "condition": delay_mode}})
    model = build_model(settings, 24, 3)
    run_dir = root / delay_mode
    run_dir.mkdir()
    run_io.save_torch({"settings": settings.to_dict(), "state_dict": model.state_dict(), "epoch": 0,
                       "num_inputs": 24, "num_outputs": 3}, run_dir / run_io.MODEL)
    w_rec = model.w_rec.detach().numpy()
    snapshots = {"epochs": np.arange(3), "w_rec": np.stack([w_rec * (1 + e) for e in range(3)])}
    with open(run_dir / run_io.SNAPSHOTS, "wb") as handle:
        np.savez(handle, **snapshots)
    return run_dir


@pytest.mark.parametrize("delay_mode", ["spatial", "none"])
def test_cli_writes_every_documented_table(tmp_path, tiny_data, delay_mode):
    run_dir = _hand_built_run(tmp_path, tiny_data, delay_mode)
    assert main(["metrics", "--run-dir", str(run_dir), "--binary-nulls", "5", "--weighted-nulls", "3",
                 "--epoch-every", "1", "--null-cache", str(tmp_path / "nulls")]) == 0
    assert main(["networkdata", "--run-dir", str(run_dir)]) == 0
    assert main(["inputmaps", "--run-dir", str(run_dir), "--random-networks", "2", "--max-samples", "6"]) == 0
    ids = {**IDS, "condition": delay_mode}
    spatial = delay_mode == "spatial"
    for name, columns in COLUMNS.items():
        frame = pd.read_csv(run_dir / "analysis" / f"{name}.csv")
        assert list(frame.columns) == list(IDENTIFIERS) + list(columns), name
        assert (frame[list(IDENTIFIERS)] == pd.Series(ids)).all().all(), name
        applies = spatial or name not in {"delay_histogram", "pruned_graph", "network_nodes", "input_maps",
                                          "input_maps_time", "ridge"}
        assert (len(frame) > 0) == applies, name
    dynamics = pd.read_csv(run_dir / "analysis" / "training_dynamics.csv")
    assert sorted(dynamics["epoch"].unique()) == [0, 1, 2]
    assert any((tmp_path / "nulls").iterdir())


def test_invalid_metric_options_are_config_errors():
    with pytest.raises(ConfigError, match="epoch-every"):
        MetricOptions(epoch_every=0)
    with pytest.raises(ConfigError, match="prune-fractions"):
        MetricOptions(prune_fractions=(0.1, 1.0))
    with pytest.raises(ConfigError, match="self-connections"):
        MetricOptions(self_connections="drop")
    with pytest.raises(ConfigError, match="control-shuffles"):
        MetricOptions(control_shuffles=0)


def test_missing_snapshots_is_a_clear_error(tmp_path, tiny_data, capsys):
    run_dir = _hand_built_run(tmp_path, tiny_data, "spatial")
    (run_dir / run_io.SNAPSHOTS).unlink()
    assert main(["metrics", "--run-dir", str(run_dir)]) == 2
    assert "snapshots.npz not found" in capsys.readouterr().err

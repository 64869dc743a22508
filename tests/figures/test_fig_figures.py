"""Each figure renders from realistic fake tables, carries its panel letters and labelled axes, keeps one colour
per condition, degrades gracefully without optional data, and names the CSV and column when data are missing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex
from PIL import Image

from spacetime_snn.errors import ConfigError, DataError
from spacetime_snn.figures import fig1, fig2, fig3, fig4
from spacetime_snn.figures.style import save_figure


def _fig1(tables, labels, colors, **kwargs):
    return fig1.figure1(tables["input_raster"], tables["input_maps"], tables["input_maps_time"], tables["ridge"],
                        condition="spatial_cost", labels=labels, colors=colors,
                        network_nodes=tables["network_nodes"], **kwargs)


def _fig2(tables, labels, colors, dynamics=None, **kwargs):
    dynamics = tables["training_dynamics"] if dynamics is None else dynamics
    kwargs.setdefault("control_metrics", tables["control_metrics"])
    return fig2.figure2(tables["network_nodes"], tables["network_edges"], dynamics, labels=labels,
                        colors=colors, without_cost="spatial", with_cost="spatial_cost", **kwargs)


def _fig3(tables, labels, colors, **kwargs):
    return fig3.figure3(tables["pruning"], tables["delay_histogram"], tables["pruned_graph"], labels=labels,
                        colors=colors, **kwargs)


def _fig4(tables, labels, colors, **kwargs):
    return fig4.figure4(tables["accuracy"], labels=labels, colors=colors, **kwargs)


def _letters(fig) -> set[str]:
    """Panel letters from the bold part of the left titles ($\\bf{A}$, $\\bf{A1}$ ...)."""
    found = set()
    for ax in fig.axes:
        title = ax.get_title(loc="left")
        if title.startswith(r"$\bf{"):
            found.add(title[5:title.index("}")])
    return found


def _axis_labels(fig) -> set[str]:
    return {ax.get_xlabel() for ax in fig.axes} | {ax.get_ylabel() for ax in fig.axes}


def _line_colors(fig) -> set[str]:
    return {to_hex(line.get_color()) for ax in fig.axes for line in ax.get_lines()}


CASES = {
    "fig1": (_fig1, set("ABCDE"), {"Time (ms)", "Input channel", "x position (ms)", "y position (ms)",
                                   "Ridge R² (input-weight rows → position)"}),
    "fig2": (_fig2, {"A", "B", "C", "D", "E", "F1", "F2", "G"}, {
        "Epoch (0 = initial network)", "Modularity Q\nof |W|, weighted (Louvain)",
        "Small-worldness σ\nof the strongest 10 % of |W|, binary", "Weight entropy (bits)\nof the rows of |W|",
        "Communicability entropy (bits)\nof |W|, weighted", "Clustering ratio C / C(shuffled)\nof |W| / max, weighted",
        "x position (ms)"}),
    "fig3": (_fig3, {"A1", "A2", "B1", "B2", "C", "D"}, {
        "Test accuracy (%)", "Connections removed (%)", "Longest delays removed (%)", "Delay (ms)",
        "Connections per network\n(mean over seeds; linear)", "Modularity Q\n(binary graph: delay < percentile)",
        "Small-worldness σ\n(binary graph: delay < percentile)"}),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_figure_renders_with_letters_and_axis_labels(name, tables, main_labels, colors, tmp_path):
    make, letters, axis_labels = CASES[name]
    fig = make(tables, main_labels, colors)
    assert _letters(fig) == letters
    assert axis_labels <= _axis_labels(fig)
    pdf, png = save_figure(fig, tmp_path / f"{name}.pdf")
    assert pdf.stat().st_size > 10_000 and png.stat().st_size > 50_000
    with Image.open(png) as image:
        width, height = image.size
    assert width > 1000 and height > 800
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{name}.pdf", f"{name}.png"]


def test_figure4_renders_every_architecture_on_a_log_axis(tables, all_labels, colors, tmp_path):
    fig = _fig4(tables, all_labels, colors)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    assert {"Trainable parameters of the recurrent layer\n(weights + delays or positions; log scale)",
            "Test accuracy (%)"} <= _axis_labels(fig)
    annotations = {text.get_text() for text in ax.texts}
    assert annotations == {"32 neurons", "64 neurons", "128 neurons"}  # 3 seeds everywhere: n once, in the title
    assert "mean ± 1 sd over 3 seeds per point" in ax.get_title(loc="left")
    assert len(fig.legends) == 1  # architectures and sizes in one column, no empty area between two legends
    legend_text = {t.get_text() for legend in fig.legends for t in legend.get_texts()}
    assert set(tables["accuracy"]["condition"].map(all_labels)) <= legend_text
    single = _fig4(tables | {"accuracy": tables["accuracy"].query("seed == 0")}, all_labels, colors)
    assert "one seed per point: no error bars" in single.axes[0].get_title(loc="left")
    assert "mean" not in single.axes[0].get_title(loc="left")
    pdf, png = save_figure(fig, tmp_path / "fig4.pdf")
    assert pdf.stat().st_size > 5_000 and png.stat().st_size > 30_000


def test_one_colour_per_condition_across_figures(tables, main_labels, all_labels, colors):
    shown = {colors[c] for c in main_labels}
    for fig in (_fig2(tables, main_labels, colors), _fig3(tables, main_labels, colors)):
        assert shown <= _line_colors(fig)
    fig = _fig4(tables, all_labels, colors)
    expected = {colors[c] for c in tables["accuracy"]["condition"].unique()}
    assert expected <= _line_colors(fig)


def test_condition_names_come_from_arguments_only(tables, colors):
    renamed = {"synaptic": "free", "spatial": "pos", "spatial_cost": "pos_l"}
    renamed_tables = {name: frame.assign(condition=frame["condition"].replace(renamed))
                      for name, frame in tables.items()}
    labels = {"free": "Free delays", "pos": "Positions", "pos_l": "Positions + λ"}
    fig = fig2.figure2(renamed_tables["network_nodes"], renamed_tables["network_edges"],
                       renamed_tables["training_dynamics"], labels=labels, without_cost="pos", with_cost="pos_l")
    assert _letters(fig) == {"A", "B", "C", "D", "E", "F1", "F2", "G"}
    assert _letters(_fig3(renamed_tables, labels, None)) == {"A1", "A2", "B1", "B2", "C", "D"}
    fig = fig1.figure1(renamed_tables["input_raster"], renamed_tables["input_maps"],
                       renamed_tables["input_maps_time"], renamed_tables["ridge"], condition="pos_l", labels=labels)
    assert "Positions + λ" in fig.get_suptitle()


def test_missing_spectral_entropy_drops_only_that_panel(tables, main_labels, colors):
    dynamics = tables["training_dynamics"].query("metric not in ('spectral_entropy', 'clustering_ratio')")
    fig = _fig2(tables, main_labels, colors, dynamics=dynamics)
    assert _letters(fig) == {"A", "B", "C", "D", "E", "F1"}


def test_missing_optional_tables_and_conditions_degrade_gracefully(tables, colors):
    labels = {"synaptic": "Non-spatial"}  # no ridge rows: panel E says so instead of failing
    fig = fig1.figure1(tables["input_raster"], tables["input_maps"], tables["input_maps_time"], tables["ridge"],
                       condition="spatial", labels=labels, colors=colors)
    texts = {text.get_text() for ax in fig.axes for text in ax.texts}
    assert any("no ridge data" in text for text in texts)


def test_a_silent_network_has_no_activity_maps_and_says_so(tables, main_labels, colors):
    """Hidden neurons that never spike after an input spike give NaN activity maps and no time-resolved rows."""
    maps = tables["input_maps"].copy()
    maps.loc[maps["method"] == "activity", ["x", "y"]] = np.nan
    fig = fig1.figure1(tables["input_raster"], maps, tables["input_maps_time"].iloc[:0], tables["ridge"],
                       condition="spatial_cost", labels=main_labels, colors=colors)
    texts = " ".join(text.get_text() for ax in fig.axes for text in ax.texts)
    assert "no activity map" in texts and "no activity map over time" in texts
    assert _letters(fig) == set("ABCDE")


def test_missing_column_names_csv_and_column(tables, main_labels, colors):
    with pytest.raises(DataError, match=r"training_dynamics\.csv.*'value'"):
        _fig2(tables, main_labels, colors, dynamics=tables["training_dynamics"].drop(columns="value"))
    broken = dict(tables, pruned_graph=tables["pruned_graph"].drop(columns="small_worldness"))
    with pytest.raises(DataError, match=r"pruned_graph\.csv.*'small_worldness'"):
        _fig3(broken, main_labels, colors)
    broken = dict(tables, accuracy=tables["accuracy"].drop(columns="trainable_params"))
    with pytest.raises(DataError, match=r"accuracy\.csv.*'trainable_params'"):
        _fig4(broken, main_labels, colors)


def test_missing_required_metric_and_unknown_condition_are_data_errors(tables, main_labels, colors):
    dynamics = tables["training_dynamics"].query("metric != 'modularity'")
    with pytest.raises(DataError, match="modularity"):
        _fig2(tables, main_labels, colors, dynamics=dynamics)
    with pytest.raises(DataError, match="no rows for .*'condition': 'absent'"):
        fig1.figure1(tables["input_raster"], tables["input_maps"], tables["input_maps_time"], tables["ridge"],
                     condition="absent", labels=main_labels)


def test_several_hidden_sizes_need_a_choice(tables, main_labels, colors):
    pruning = tables["pruning"]
    both = {**tables, "pruning": pd.concat([pruning, pruning.assign(hidden=64)], ignore_index=True)}
    with pytest.raises(DataError, match="choose one"):
        _fig3(both, main_labels, colors)
    assert _letters(_fig3(both, main_labels, colors, hidden=128)) == {"A1", "A2", "B1", "B2", "C", "D"}


def test_bad_labels_and_outputs_are_config_errors(tables, colors, tmp_path):
    with pytest.raises(ConfigError, match="labels"):
        _fig4(tables, {}, colors)
    fig = _fig4(tables, {"spatial": "Spatial"}, colors)
    with pytest.raises(ConfigError, match=r"\.pdf"):
        save_figure(fig, tmp_path / "fig4.png")


def test_saving_twice_gives_identical_files(tables, all_labels, colors, tmp_path):
    """No dates in the metadata, so a rerun of the workflow does not change finished figures."""
    for name in ("first", "second"):
        save_figure(_fig4(tables, all_labels, colors), tmp_path / name / "fig4.pdf")
    for suffix in (".pdf", ".png"):
        first = (tmp_path / "first" / "fig4").with_suffix(suffix).read_bytes()
        assert first == (tmp_path / "second" / "fig4").with_suffix(suffix).read_bytes()


def _dashed_lines(ax):
    return [line for line in ax.get_lines() if line.get_linestyle() == "--"]


def _control_markers(ax):
    return [line for line in ax.get_lines() if line.get_marker() == fig2.CONTROL_MARKER]


def test_controls_are_marked_after_the_last_epoch_in_figure_2_and_dashed_in_figure_3(tables, main_labels, colors):
    """Fig. 2's control is of the selected network, not of training: a marker past the last epoch, no line across
    the epochs (which would read as a baseline over training)."""
    fig = _fig2(tables, main_labels, colors)
    panels = {ax.get_title(loc="left")[5:ax.get_title(loc="left").index("}")]: ax for ax in fig.axes
              if ax.get_title(loc="left").startswith(r"$\bf{")}
    for letter in ("C", "D", "E", "F1", "F2", "G"):
        markers = _control_markers(panels[letter])
        assert len(markers) == len(main_labels), letter  # one control per condition
        curves = [line for line in panels[letter].get_lines() if line.get_marker() in ("None", "", None)]
        last_epoch = max(np.max(line.get_xdata()) for line in curves)
        assert all(m.get_xdata()[0] > last_epoch for m in markers), letter
        assert not _dashed_lines(panels[letter]), letter
    without = _fig2(tables, main_labels, colors, control_metrics=None)
    assert not any(_control_markers(ax) for ax in without.axes)
    fig = _fig3(tables, main_labels, colors)
    panels = {ax.get_title(loc="left")[5:ax.get_title(loc="left").index("}")]: ax for ax in fig.axes
              if ax.get_title(loc="left").startswith(r"$\bf{")}
    assert len(_dashed_lines(panels["A2"])) == len(main_labels)  # random removal
    assert not _dashed_lines(panels["A1"])
    for letter in ("C", "D"):  # initial networks; the non-spatial one has an empty graph and is left out
        assert len(_dashed_lines(panels[letter])) == len(main_labels) - 1, letter


def test_locality_of_the_drawn_network_is_measured(tables):
    """Panel A/B boxes: mean length of the drawn edges against all edges, and r(|w|, length)."""
    nodes, edges = tables["network_nodes"], tables["network_edges"]
    run = {"condition": "spatial_cost", "seed": 0}
    nodes = nodes[(nodes["condition"] == run["condition"]) & (nodes["seed"] == run["seed"])]
    edges = edges[(edges["condition"] == run["condition"]) & (edges["seed"] == run["seed"])]
    drawn = fig2._strongest_edges(edges, 100)
    measured = fig2.locality(nodes, edges, drawn)
    xy = nodes.set_index("neuron")[["x", "y"]].to_numpy()
    off = edges[edges["pre"] != edges["post"]]
    lengths = np.linalg.norm(xy[off["pre"]] - xy[off["post"]], axis=1)
    assert measured["all_ms"] == pytest.approx(lengths.mean())
    assert measured["drawn_ms"] < measured["all_ms"]  # the fake cost network's strong edges are short
    assert measured["r"] == pytest.approx(np.corrcoef(off["weight"].abs(), lengths)[0, 1])


def test_delay_histogram_merges_bins_and_counts_per_network():
    rows = pd.DataFrame({"seed": [0, 0, 0, 0, 1, 1, 1, 1], "bin_start": [0.0, 1, 2, 3] * 2,
                         "bin_end": [1.0, 2, 3, 4] * 2, "count": [4, 2, 2, 0, 6, 0, 2, 0]})
    edges, counts = fig3.merged_histogram(rows, target_bins=2)
    assert edges.tolist() == [0.0, 2.0, 4.0]  # the empty last bin is dropped, then pairs merged
    assert counts.tolist() == [6.0, 2.0]  # (4 + 2 + 6 + 0) / 2 runs, (2 + 2) / 2 runs


def test_figure4_writes_n_beside_points_when_seed_counts_differ(tables, all_labels, colors):
    accuracy = tables["accuracy"]
    fewer = accuracy[~((accuracy["condition"] == "none") & (accuracy["seed"] > 0))]
    ax = _fig4({"accuracy": fewer}, all_labels, colors).axes[0]
    texts = [text.get_text() for text in ax.texts]
    assert texts.count("n=1") == 3 and texts.count("n=3") == 15


def test_fig3_draws_trained_and_initial_delay_histograms_on_axes_of_their_own(tables, main_labels, colors):
    """The initial non-spatial networks' all-zero delays (one tall bar) must not set the trained histograms' axis."""
    from matplotlib.patches import StepPatch

    fig = _fig3(tables, main_labels, colors)
    panels = {ax.get_title(loc="left")[5:ax.get_title(loc="left").index("}")]: ax for ax in fig.axes
              if ax.get_title(loc="left").startswith(r"$\bf{")}
    trained = [p for p in panels["B1"].patches if isinstance(p, StepPatch)]
    initial = [p for p in panels["B2"].patches if isinstance(p, StepPatch)]
    assert len(trained) == len(main_labels) and initial
    highest = max(float(np.nanmax(p.get_data().values)) for p in trained)
    assert panels["B1"].get_ylim()[1] < 1.2 * highest


def test_fig1_time_bins_are_ranges_and_every_bin_is_shown_while_they_fit():
    times = pd.DataFrame({"time_ms": [0.0, 50.0, 100.0, 150.0, 200.0] * 2})
    windows, width, stride = fig1._time_windows(times, 5)
    assert windows == [0.0, 50.0, 100.0, 150.0, 200.0] and stride == 1  # none dropped without comment
    assert fig1._window_text(windows[2], width) == "100–150 ms"
    many = pd.DataFrame({"time_ms": np.arange(20) * 50.0})
    windows, width, stride = fig1._time_windows(many, 5)
    assert stride == 4 and windows == [0.0, 200.0, 400.0, 600.0, 800.0]


def _b1(fig):
    return next(ax for ax in fig.axes if ax.get_title(loc="left").startswith(r"$\bf{B1}"))


def test_fig3_gives_each_conditions_share_of_delays_at_the_clamp(tables, main_labels, colors):
    """B1 names every condition's share of delays held at the clamp (mean over seeds, largest run) and marks the
    clamp only where a delay sits there."""
    metrics = tables["final_metrics"]
    shares = [{**row, "metric": "delay_clamp_max_share", "value": value}
              for row, value in zip(metrics.drop_duplicates(subset=["condition", "seed"])
                                    [["study", "condition", "hidden", "seed"]].to_dict("records"),
                                    [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.1, 0.3, 0.2])]
    assert len(shares) == 9
    with_shares = pd.concat([metrics, pd.DataFrame(shares)], ignore_index=True)
    b1 = _b1(_fig3(tables, main_labels, colors, final_metrics=with_shares, clamp_steps=62))
    texts = [text.get_text() for text in b1.texts]
    assert any("62 ms" in text for text in texts)
    assert f"{main_labels['spatial_cost']}: 20.0 % (30.0 %)" in texts
    assert f"{main_labels['synaptic']}: 0.0 % (0.0 %)" in texts
    assert [line.get_xdata()[0] for line in b1.lines] == [62.0]
    nobody = with_shares.assign(value=lambda f: f["value"].where(f["metric"] != "delay_clamp_max_share", 0.0))
    assert not _b1(_fig3(tables, main_labels, colors, final_metrics=nobody, clamp_steps=62)).lines
    assert not _b1(_fig3(tables, main_labels, colors)).texts  # no final_metrics: nothing claimed

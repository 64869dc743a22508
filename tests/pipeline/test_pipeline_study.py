"""spacetime_snn.study: the study config -> runs, run settings, CLI options (no Snakemake involved)."""

from __future__ import annotations

import copy
import json
import re

import pytest
import yaml

from spacetime_snn import study
from spacetime_snn.config import settings_from_dict
from spacetime_snn.errors import ConfigError
from workflow_helpers import SCHEMA, grid, load_config

STUDY_CONFIGS = ((), ("configs/demo.yaml",), ("configs/ci.yaml",), ("configs/paper_v2.yaml",),
                 ("configs/spoken.yaml",), ("configs/spoken.yaml", "configs/spoken_surrogate.yaml"),
                 ("configs/spoken.yaml", "configs/spoken_cost_sweep.yaml"))


@pytest.fixture(scope="module")
def schema() -> dict:
    return yaml.safe_load(SCHEMA.read_text())


@pytest.fixture(scope="module")
def config(schema) -> dict:
    return study.check_config(load_config(), schema)


def checked(schema, **changes) -> dict:
    """config.yaml with nested `changes` ({"train": {"lr": -1}}) merged in, validated."""
    return study.check_config(study.deep_merge(load_config(), changes), schema)


def problems(schema, **changes) -> str:
    with pytest.raises(ConfigError) as error:
        checked(schema, **changes)
    return str(error.value)


@pytest.mark.parametrize("overrides", STUDY_CONFIGS, ids=["config", "demo", "ci", "paper_v2", "spoken",
                                                          "spoken_surrogate", "spoken_cost_sweep"])
def test_every_shipped_config_is_valid(schema, overrides) -> None:
    raw = load_config(*overrides)
    before = copy.deepcopy(raw)
    filled = study.check_config(raw, schema)
    assert raw == before, "check_config must not modify its argument"
    assert filled["study"] == raw["study"]


def test_the_schema_fills_defaults_of_a_minimal_config(schema) -> None:
    full = load_config()
    minimal = {key: full[key] for key in ("study", "conditions", "main", "architecture", "figures")}
    filled = study.check_config(minimal, schema)
    assert filled["train"]["epochs"] == 300 and filled["model"]["max_delay_steps"] == 62
    assert filled["data"]["augment"] == {"shift_channels": 40, "blend_samples": 7644}
    assert filled["resources"]["train"]["threads"] == 1 and filled["analysis"]["binary_nulls"] == 100


def test_condition_overrides_get_no_defaults(config) -> None:
    """A default filled into an override would silently reset what the condition inherits."""
    assert config["conditions"] == load_config()["conditions"]


def test_schema_defaults_agree_with_the_run_settings_dataclasses(schema) -> None:
    from spacetime_snn.config import RunSettings

    defaults = RunSettings().to_dict()
    filled = study.check_config({key: load_config()[key] for key in
                                 ("study", "conditions", "main", "architecture", "figures")}, schema)
    for section in ("data", "model", "train"):
        expected = {k: v for k, v in defaults[section].items() if k != "hidden"}
        got = {k: v for k, v in filled[section].items() if k not in ("synthetic", "spoken")}
        assert got == expected, section


@pytest.mark.parametrize(
    "changes, expected",
    [
        ({"train": {"lrr": 0.1}}, "unknown key 'train.lrr' (did you mean 'lr'?); allowed keys here: batch_size,"),
        ({"train": {"lr": -1.0}}, "'train.lr': -1.0 is out of range; allowed: number > 0"),
        ({"model": {"dims": 0}}, "'model.dims': 0 is out of range; allowed: integer >= 1"),
        ({"model": {"max_delay_steps": 0}}, "'model.max_delay_steps': 0 is out of range; allowed: integer >= 1"),
        ({"main": {"seeds": []}}, "'main.seeds': [] is too short; give at least 1 item(s)"),
        ({"model": {"delay_mode": "cubic"}},
         "'model.delay_mode': 'cubic' is not allowed; allowed values: none, axonal, synaptic, spatial"),
        ({"conditions": {"spatial": {"model": {"delay_interpolation": "nearest"}}}},
         "'conditions.spatial.model.delay_interpolation': 'nearest' is not allowed; allowed values: linear, round"),
        ({"conditions": {"odd": {"train": {"distance_cost": "1e-9"}}}},
         "YAML reads '1e-9' as text: write it with a decimal point, e.g. 1.0e-9"),
        ({"conditions": {"spatial": {"model": {"hidden": 64}}}}, "unknown key 'conditions.spatial.model.hidden'"),
        ({"architecture": {"hidden": [32, 0]}}, "'architecture.hidden[1]': 0 is out of range; allowed: integer >= 1"),
        ({"conditions": {"bad name": {}}}, "'conditions': the name 'bad name' is not allowed; names must match"),
        ({"data": {"source": "mnist"}}, "'data.source': 'mnist' is not allowed; allowed values: shd, synthetic, spoken"),
        ({"data": {"spoken": {"snr_db": [0.0]}}}, "'data.spoken.snr_db': [0.0] is too short; give at least 2"),
    ],
)
def test_schema_errors_name_the_key_and_what_is_allowed(schema, changes, expected) -> None:
    assert expected in problems(schema, **changes)


def test_every_schema_error_is_reported_at_once(schema) -> None:
    message = problems(schema, train={"lr": -1.0, "epochs": 0}, model={"dims": 0})
    assert message.count("\n  - ") == 3


@pytest.mark.parametrize(
    "changes, expected",
    [
        ({"main": {"conditions": ["spatial", "nope"]}}, "'main.conditions[1]': unknown condition 'nope'"),
        ({"conditions": {"loop_a": {"extends": "loop_b"}, "loop_b": {"extends": "loop_a"}}}, "is a cycle"),
        ({"conditions": {"orphan": {"extends": "ghost"}}}, "'conditions.orphan.extends': unknown condition 'ghost'"),
        ({"figures": {"labels": {"ghost": "Ghost"}}}, "'figures.labels.ghost': unknown condition 'ghost'"),
        ({"analysis": {"inputmaps": {"conditions": ["synaptic"]}}},
         "'analysis.inputmaps.conditions[0]': 'synaptic' has no neuron positions"),
        ({"analysis": {"inputmaps": {"conditions": ["spatial3d"]}}},
         "'analysis.inputmaps.conditions[0]': 'spatial3d' is not a condition of the main grid"),
        ({"analysis": {"inputmaps": {"seeds": [99]}}}, "'analysis.inputmaps.seeds[0]': 99 is not a seed of the main"),
        ({"figures": {"fig1": {"condition": "spatial_cost"}}, "analysis": {"inputmaps": {"conditions": ["spatial"]}}},
         "'figures.fig1.condition': 'spatial_cost' is not mapped"),
        ({"figures": {"fig2": {"with_cost": "synaptic"}}}, "'figures.fig2.with_cost': 'synaptic' has no neuron"),
        ({"figures": {"seed": 42}}, "'figures.seed': 42 must be a seed of the main grid"),
        ({"data": {"selection": "validation", "validation_fraction": 0.0}},
         "condition 'synaptic': invalid value for 'data.validation_fraction': must be > 0"),
        ({"data": {"source": "synthetic", "synthetic": {"num_classes": 50}}}, "'data.synthetic': synthetic spec"),
        ({"data": {"source": "spoken", "spoken": {"snr_db": [20.0, 0.0]}}}, "'data.spoken': spoken spec: snr_db"),
    ],
)
def test_cross_references_are_checked(schema, changes, expected) -> None:
    assert expected in problems(schema, **changes)


def test_runs_shared_by_both_grids_are_trained_once(config) -> None:
    runs = study.all_runs(config)
    assert len(runs) == len(set(runs))
    expected = grid(config, "main") | grid(config, "architecture")
    assert {(r.condition, r.hidden, r.seed) for r in runs} == expected
    assert len(runs) == 420  # 3 x 20 + 6 x 3 x 20: Fig. 4 has settings of its own (by_hidden), nothing shared


def test_run_settings_follow_the_contract(config) -> None:
    settings = study.run_settings(config, "spatial_cost", 64, 7)
    assert set(settings) == {"data", "model", "train", "seed", "run"}
    assert set(settings["data"]) == {"source", "root", "dt_ms", "max_time_ms", "validation_fraction", "selection",
                                     "augment"}
    assert settings["model"]["hidden"] == 64 and settings["model"]["delay_mode"] == "spatial"
    assert settings["train"]["distance_cost"] == 1e-10 and settings["train"]["distance_power"] == 1.0
    assert settings["train"]["l1"] == 0.0 and settings["train"]["delay_lr"] == 0.05  # ours (row 6b); v1: 0.3
    assert settings["seed"] == 7
    assert settings["run"] == {"study": "shd", "condition": "spatial_cost", "hidden": 64, "seed": 7}
    settings_from_dict(settings)  # what `spacetime-snn train` does with it


def test_extends_applies_the_parent_first_and_the_child_wins(schema) -> None:
    config = checked(schema, conditions={
        "base": {"model": {"delay_mode": "spatial", "dims": 3}, "train": {"lr": 0.01}},
        "child": {"extends": "base", "model": {"dims": 4}},
    })
    resolved = study.resolve_condition(config, "child")
    assert resolved == {"model": {"delay_mode": "spatial", "dims": 4}, "train": {"lr": 0.01}}
    assert study.run_settings(config, "child", 8, 0)["model"]["dims"] == 4
    assert study.run_settings(config, "base", 8, 0)["model"]["dims"] == 3


def test_every_condition_maps_to_its_delay_mode(config) -> None:
    modes = {name: study.run_settings(config, name, 8, 0)["model"]["delay_mode"] for name in config["conditions"]}
    assert modes["none"] == "none" and modes["axonal"] == "axonal" and modes["synaptic"] == "synaptic"
    assert modes["nonspatial"] == "synaptic"
    assert all(modes[name] == "spatial" for name in modes if name.startswith("spatial"))


def test_by_hidden_applies_the_authors_per_size_settings(config) -> None:
    """Fig. 4 (fig7.py run names): k_reg and the delay lr differ per architecture and hidden size."""
    train = {h: study.run_settings(config, "spatial2d", h, 0)["train"] for h in (32, 64, 128)}
    assert [train[h]["delay_lr"] for h in (32, 64, 128)] == [0.01, 0.03, 0.01]
    assert [train[h]["spike_reg"]["upper_strength"] for h in (32, 64, 128)] == [5e-12, 5e-12, 5e-13]
    assert study.run_settings(config, "spatial2d", 16, 0)["train"]["delay_lr"] == config["train"]["delay_lr"]
    assert study.run_settings(config, "spatial4d", 128, 0)["model"]["dims"] == 4


def test_config_yaml_trains_with_the_authors_rule(config) -> None:
    """docs/fidelity.md row 17: the paper's protocol defaults to EventProp, chosen by the spoken-digit study."""
    assert config["train"]["gradient"] == "eventprop"
    assert study.run_settings(config, "spatial", 128, 0)["model"]["delay_interpolation"] == "round"


def test_surrogate_gradient_replaces_the_eventprop_regulariser_and_rounded_delays(schema) -> None:
    """docs/fidelity.md row 17b: under the surrogate gradient every condition trains with train.surrogate_*;
    under EventProp, or with them null, each condition keeps the authors' k_reg and rounded delays."""
    from spacetime_snn.config import settings_from_dict

    config = checked(schema, train={"gradient": "surrogate"})
    raw = study.run_settings(config, "synaptic", 128, 0)
    assert raw["train"]["spike_reg"]["upper_strength"] == 5e-11 and raw["model"]["delay_interpolation"] == "round"
    surrogate = settings_from_dict(raw)
    assert surrogate.train.gradient == "surrogate"
    assert surrogate.train.spike_reg == surrogate.train.surrogate_spike_reg
    assert surrogate.train.spike_reg.target == config["train"]["surrogate_spike_reg"]["target"]
    assert surrogate.model.delay_interpolation == "linear"
    assert settings_from_dict(surrogate.to_dict()) == surrogate  # resolving twice changes nothing

    eventprop = settings_from_dict(study.deep_merge(raw, {"train": {"gradient": "eventprop"}}))
    assert eventprop.train.spike_reg.upper_strength == 5e-11 and eventprop.model.delay_interpolation == "round"
    kept = settings_from_dict(study.deep_merge(raw, {"train": {"surrogate_spike_reg": None,
                                                               "surrogate_delay_interpolation": None}}))
    assert kept.train.spike_reg.upper_strength == 5e-11 and kept.model.delay_interpolation == "round"


def test_paper_v2_sweeps_one_lambda_for_all_three_conditions(schema) -> None:
    v2 = study.check_config(load_config("configs/paper_v2.yaml"), schema)
    assert v2["model"]["max_delay_steps"] == 1000
    train = {name: study.run_settings(v2, name, 128, 0)["train"] for name in v2["main"]["conditions"]}
    l1 = {name: t["l1"] for name, t in train.items() if t["distance_cost"] == 0}
    cost = sorted(t["distance_cost"] for t in train.values() if t["distance_cost"] > 0)
    assert sorted(set(l1.values())) == [1e-10, 5e-10, 1e-9, 5e-9, 1e-8]
    assert cost == [1e-10, 5e-10, 1e-9, 5e-9, 1e-8, 1e-7]
    assert all(t["distance_power"] == 2.0 for t in train.values() if t["distance_cost"] > 0)
    assert {t["delay_lr"] for t in train.values()} == {0.05}


def test_deep_merge_copies_and_replaces_lists() -> None:
    base = {"a": {"b": 1, "c": [1, 2]}, "d": 1}
    merged = study.deep_merge(base, {"a": {"c": [3]}, "e": 2})
    assert merged == {"a": {"b": 1, "c": [3]}, "d": 1, "e": 2}
    merged["a"]["b"] = 99
    assert base["a"]["b"] == 1


def test_analyses_run_on_the_runs_their_figures_draw(config) -> None:
    main = study.grid_runs(config, "main")
    assert study.producer_runs(config, "metrics") == study.producer_runs(config, "prune") == main
    mapped = study.producer_runs(config, "inputmaps")
    assert {r.condition for r in mapped} == set(config["analysis"]["inputmaps"]["conditions"])
    assert {r.seed for r in mapped} == set(config["main"]["seeds"])  # seeds: null = every main seed
    drawn = study.producer_runs(config, "networkdata")
    assert {(r.condition, r.seed) for r in drawn} == {("spatial", 0), ("spatial_cost", 0)}


def test_figures_depend_only_on_their_tables(config) -> None:
    assert study.figure_inputs(config, "fig3") == [
        "results/shd/aggregated/pruning.csv", "results/shd/aggregated/delay_histogram.csv",
        "results/shd/aggregated/pruned_graph.csv", "results/shd/aggregated/final_metrics.csv"]
    assert "--clamp-steps" in study.figure_options(config, "fig3")
    drawn = {table for tables in study.FIGURE_TABLES.values() for table in tables}
    assert drawn <= set(study.AGGREGATED_TABLES)
    accuracy = study.table_inputs(config, "accuracy")
    assert len(accuracy) == 420 and all(path.endswith("/summary.json") for path in accuracy)
    pruning = study.table_inputs(config, "pruning")
    assert pruning[0] == "results/shd/runs/synaptic/h128/s0/analysis/pruning.csv" and len(pruning) == 60


def test_final_targets_cover_every_figure_table_and_aggregate(config) -> None:
    targets = study.final_targets(config)
    assert "results/shd/figures/fig4.png" in targets and "results/shd/tables/table1.md" in targets
    assert {"results/shd/tables/claims.csv", "results/shd/tables/claims.md", "results/shd/tables/claims.rst"} <= set(
        targets)
    assert sum("/aggregated/" in t for t in targets) == len(study.AGGREGATED_TABLES) == 13
    assert set(study.claims_inputs(config)) <= set(targets)


def test_claims_options_name_the_roles_and_the_main_grid(config, schema) -> None:
    claims = study.claims_options(config)
    assert claims[claims.index("--hidden") + 1] == "128" and claims[claims.index("--study") + 1] == "shd"
    assert claims[claims.index("--mapped") + 1: claims.index("--mapped") + 3] == ["spatial", "spatial_cost"]
    assert claims[claims.index("--no-delays") + 1] == "none" and claims[claims.index("--alpha") + 1] == "0.05"
    with pytest.raises(ConfigError, match="analysis.claims.roles.no_delays.*unknown condition 'nodelay'"):
        checked(schema, analysis={"claims": {"roles": {"no_delays": "nodelay"}}})


def test_wildcard_regex_matches_whole_names_only(config) -> None:
    pattern = study.regex_alternatives(config["conditions"])
    assert re.fullmatch(pattern, "spatial3d") and re.fullmatch(pattern, "spatial_cost")
    assert not re.fullmatch(pattern, "spatial3") and not re.fullmatch(pattern, "spatial/x")
    match = re.match(f"runs/(?P<condition>{pattern})/h", "runs/spatial_cost/h8")
    assert match["condition"] == "spatial_cost"


def test_cli_options(config) -> None:
    assert study.options({"binary_nulls": 3, "binary_keep_fraction": None, "prune_fractions": [0.0, 0.1]}) == [
        "--binary-nulls", "3", "--prune-fractions", "0.0", "0.1"]
    metrics = study.metrics_options(config)
    assert metrics[metrics.index("--prune-fractions") + 1:][:2] == ["0.0", "0.05"]
    assert metrics[metrics.index("--binary-keep-fraction") + 1] == "0.1" and "--null-cache" in metrics
    assert metrics[metrics.index("--self-connections") + 1] == "keep"  # the authors' analysis
    assert metrics[metrics.index("--control-shuffles") + 1] == "3"
    fig3 = study.figure_options(config, "fig3")
    assert fig3[fig3.index("--histogram-scale") + 1] == "linear" and fig3[fig3.index("--histogram-bins") + 1] == "50"
    inputmaps = study.inputmaps_options(config)
    assert "--conditions" not in inputmaps and "--max-samples" not in inputmaps and "--window-steps" in inputmaps
    fig2 = study.figure_options(config, "fig2")
    assert fig2[fig2.index("--without-cost") + 1] == "spatial" and fig2[fig2.index("--with-cost") + 1] == "spatial_cost"
    labels = json.loads(fig2[fig2.index("--labels") + 1])
    assert list(labels) == ["synaptic", "spatial", "spatial_cost"]  # the main grid's colours, in every main figure
    fig4 = study.figure_options(config, "fig4")
    assert list(json.loads(fig4[fig4.index("--labels") + 1])) == config["architecture"]["conditions"]
    assert "--hidden" not in fig4 and "--seed" not in fig4
    shown = fig4[fig4.index("--show") + 1: fig4.index("--show") + 7]
    assert shown == config["architecture"]["conditions"]
    assert study.synthetic_options(study.deep_merge(config, {"data": {"synthetic": {"num_train": 5}}})) == [
        "--seed", "0", "--num-train", "5"]
    spoken = study.deep_merge(config, {"data": {"spoken": {"num_test": 40, "snr_db": [5.0, 15.0]}}})
    assert study.spoken_options(spoken) == ["--seed", "0", "--num-test", "40", "--snr-db", "5.0", "15.0"]


def test_data_files_per_source() -> None:
    assert study.data_files("resources/shd/", "shd") == {
        "train": "resources/shd/shd_train.h5", "test": "resources/shd/shd_test.h5"}
    assert study.data_files("resources/x", "synthetic")["test"] == "resources/x/test.h5"
    assert study.data_files("resources/s", "spoken") == {
        "train": "resources/s/spoken_train.h5", "test": "resources/s/spoken_test.h5"}


def test_write_settings_is_deterministic_json(tmp_path, config) -> None:
    settings = study.run_settings(config, "spatial", 16, 1)
    path = tmp_path / "run" / "settings.json"
    study.write_settings(path, settings)
    first = path.read_bytes()
    study.write_settings(path, settings)
    assert path.read_bytes() == first
    assert json.loads(first) == settings
    assert list(json.loads(first)) == ["data", "model", "train", "seed", "run"]
    assert list(json.loads(first)["run"]) == ["study", "condition", "hidden", "seed"]
    assert [p.name for p in path.parent.iterdir()] == ["settings.json"]  # no temporary file left behind


def test_a_retried_job_gets_more_time_up_to_the_partition_limit() -> None:
    assert [study.attempt_runtime(120, attempt, 300) for attempt in (1, 2, 3)] == [120, 240, 300]
    assert study.attempt_runtime(1, 4, None) == 4
    assert study.attempt_runtime(2000, 1, 1440) == 1440  # never more than a partition allows (it would pend)


def test_job_resources_route_gpu_jobs_and_name_the_account(config) -> None:
    names = {"slurm": {"account": "proj", "cpu_partition": "cpu", "gpu_partition": "gpu", "gpu_model": "a100",
                       "max_runtime": 2000}}
    named = study.deep_merge(config, names)
    train, prune = study.job_resources(named, "train"), study.job_resources(named, "prune")
    assert {k: v for k, v in train.items() if k != "runtime"} == {
        "mem_mb": 32000, "gpu": 1, "gpu_model": "a100", "slurm_partition": "gpu", "slurm_account": "proj"}
    assert prune["slurm_partition"] == "cpu" and "gpu" not in prune and "gpu_model" not in prune
    assert [train["runtime"](None, attempt) for attempt in (1, 2)] == [1440, 2000]
    assert [prune["runtime"](None, attempt) for attempt in (1, 2)] == [120, 240]
    unnamed = study.job_resources(config, "train")  # "" = the cluster's default partition and account
    assert not {"slurm_partition", "slurm_account", "gpu_model"} & set(unnamed)


@pytest.mark.parametrize("command, builder", [
    ("table", study.table_options), ("claims", study.claims_options), ("results-page", study.results_page_options),
    ("data", study.spoken_options),
])
def test_the_options_a_rule_passes_are_ones_its_command_takes(command, builder):
    """Each rule's options come from a `study.*_options` function; every option it writes must exist in the CLI
    command the rule calls (a renamed or added option fails here, not in the middle of a study)."""
    import argparse

    from spacetime_snn.cli import build_parser

    config = load_config("configs/spoken.yaml" if builder is study.spoken_options else "configs/demo.yaml")
    parser = build_parser(command)
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[command]
    if builder is study.spoken_options:
        sub = next(a for a in sub._actions if isinstance(a, argparse._SubParsersAction)).choices["spoken"]
    known = {flag for action in sub._actions for flag in action.option_strings}
    passed = [word for word in builder(config) if word.startswith("--")]
    assert passed and set(passed) <= known, sorted(set(passed) - known)

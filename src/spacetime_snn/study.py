"""The study plan: a study config (config.yaml) -> the runs to train, each run's settings, the CLI options.

The Snakemake workflow calls these functions from `workflow/rules/common.smk`, so the rules stay declarations
and the logic is unit-tested (tests/pipeline/test_pipeline_study.py). Everything here is pure: plain dicts in,
plain data out; the only file access is `load_yaml` and `write_settings`, and the messages at the end, which
look for config files and finished results.

Vocabulary:
- a *condition* is a named set of overrides of the `model` / `train` defaults (it may `extends` another one);
- a *grid* (`main`, `architecture`) crosses conditions x hidden sizes x seeds;
- a *run* is one (condition, hidden, seed); a run in both grids is trained once.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import json
import re
import shlex
from pathlib import Path
from typing import Any, Iterable, Mapping

from .errors import ConfigError
from .io_utils import atomic_path

GRIDS = ("main", "architecture")

# Paths relative to the working directory (docs/architecture.md).
RESULTS_DIR = "results/{study}"
RUN_DIR = "results/{study}/runs/{condition}/h{hidden}/s{seed}"

# Which CLI command writes which per-run table (into <run dir>/analysis/<table>.csv).
PRODUCER_TABLES: dict[str, tuple[str, ...]] = {
    "metrics": ("training_dynamics", "final_metrics", "control_metrics", "delay_histogram", "pruned_graph"),
    "prune": ("pruning",),
    "networkdata": ("network_nodes", "network_edges"),
    "inputmaps": ("input_maps", "input_maps_time", "input_raster", "ridge"),
}
TABLE_PRODUCER = {table: producer for producer, tables in PRODUCER_TABLES.items() for table in tables}
# `accuracy` is aggregated from every run's summary.json rather than from a per-run table.
AGGREGATED_TABLES = ("accuracy", *TABLE_PRODUCER)

# The aggregated tables each figure draws, and the grid whose conditions it shows.
FIGURE_TABLES: dict[str, tuple[str, ...]] = {
    "fig1": ("input_raster", "input_maps", "input_maps_time", "ridge"),
    "fig2": ("network_nodes", "network_edges", "training_dynamics", "control_metrics"),
    "fig3": ("pruning", "delay_histogram", "pruned_graph", "final_metrics"),
    "fig4": ("accuracy",),
}
FIGURE_GRID = {"fig1": "main", "fig2": "main", "fig3": "main", "fig4": "architecture"}
# The aggregated tables the claims report is computed from (analysis/claims.py TABLES).
CLAIMS_TABLES = ("accuracy", "final_metrics", "control_metrics", "pruning", "pruned_graph", "ridge")
CLAIMS_FILES = ("claims.csv", "claims.md", "claims.rst")

_DATA_FILES = {"shd": ("shd_train.h5", "shd_test.h5"), "synthetic": ("train.h5", "test.h5"),
               "spoken": ("spoken_train.h5", "spoken_test.h5")}
# Keys of the config's `data` section that say how the data are made, not how a run reads them.
_DATA_SOURCE_KEYS = ("synthetic", "spoken")


@dataclasses.dataclass(frozen=True, order=True)
class Run:
    """One training run; its identifiers are also its directory (RUN_DIR)."""

    condition: str
    hidden: int
    seed: int


# --------------------------------------------------------------------------------------------------------------
# Validation


def load_yaml(path: str | Path) -> Any:
    import yaml

    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def check_config(config: Mapping[str, Any], schema: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a study config against the JSON schema, then what the schema cannot express (cross-references,
    `extends` chains, the run settings each condition produces, the synthetic-data spec).

    Returns a deep copy with the schema's defaults filled in; `config` itself is not modified.
    Raises ConfigError listing every problem, each naming the key, the offending value and what is allowed.
    """
    from jsonschema import Draft202012Validator

    filled = copy.deepcopy(dict(config))
    validator = _with_defaults(Draft202012Validator)(schema)
    errors = sorted(validator.iter_errors(filled), key=lambda e: [str(p) for p in e.absolute_path])
    problems = list(dict.fromkeys(_describe_schema_error(error) for error in errors))
    if not problems:
        problems = _cross_reference_problems(filled)
    if problems:
        raise ConfigError(
            "invalid study config:\n" + "\n".join(f"  - {p}" for p in problems)
            + "\n(every key with its range and default: workflow/schemas/config.schema.yaml)"
        )
    return filled


def _with_defaults(validator_class):
    """A validator class that fills in the `default`s of properties while it validates, as
    snakemake.utils.validate does, so the cross-reference checks see the config the workflow will see."""
    from jsonschema import validators

    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if "default" in subschema:
                    instance.setdefault(name, copy.deepcopy(subschema["default"]))
        yield from validate_properties(validator, properties, instance, schema)

    return validators.extend(validator_class, {"properties": set_defaults})


def _key(path: Iterable[Any]) -> str:
    key = ""
    for part in path:
        key += f"[{part}]" if isinstance(part, int) else (f".{part}" if key else str(part))
    return key or "<top level>"


def _describe_schema_error(error) -> str:
    """One line: the key, what is wrong with its value, what is allowed (and what the key means)."""
    key, schema, value, kind = _key(error.absolute_path), error.schema, error.instance, error.validator
    meaning = f" ({schema['description'].strip()})" if schema.get("description") else ""
    if kind == "additionalProperties":
        allowed = sorted(schema.get("properties", {}))
        lines = []
        for name in sorted(set(value) - set(allowed)):
            close = difflib.get_close_matches(name, allowed, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            where = f"{key}.{name}" if error.absolute_path else name
            lines.append(f"unknown key '{where}'{hint}; allowed keys here: {', '.join(allowed)}")
        return "\n  - ".join(lines)
    if kind == "enum":
        return f"'{key}': {value!r} is not allowed; allowed values: {', '.join(map(str, schema['enum']))}{meaning}"
    if kind in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        return f"'{key}': {value!r} is out of range; allowed: {_range(schema)}{meaning}"
    if kind == "type":
        expected = schema["type"] if isinstance(schema["type"], str) else " or ".join(schema["type"])
        message = f"'{key}': {value!r} is a {_type_name(value)}, expected {expected}{meaning}"
        if isinstance(value, str) and _is_number_text(value):
            message += _number_as_text_hint(value, expected)
        return message
    if kind == "minItems":
        return f"'{key}': {value!r} is too short; give at least {schema['minItems']} item(s){meaning}"
    if kind == "uniqueItems":
        return f"'{key}': {value!r} repeats an item; each may appear once{meaning}"
    if kind == "pattern" and "propertyNames" in error.schema_path:
        return f"'{key}': the name {value!r} is not allowed; names must match {schema['pattern']}{meaning}"
    if kind == "pattern":
        return f"'{key}': {value!r} does not match {schema['pattern']}{meaning}"
    return f"'{key}': {error.message}{meaning}"


def _range(schema: Mapping[str, Any]) -> str:
    symbols = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}
    bounds = [f"{symbol} {schema[kind]}" for kind, symbol in symbols.items() if kind in schema]
    noun = "integer" if schema.get("type") == "integer" else "number"
    return f"{noun} " + " and ".join(bounds)


def _type_name(value: Any) -> str:
    names = {dict: "mapping", list: "list", str: "string", bool: "boolean", type(None): "null (empty)"}
    return names.get(type(value), type(value).__name__)


def _is_number_text(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _number_as_text_hint(text: str, expected: str) -> str:
    """How to write a number that YAML read as text: quoted (any number, e.g. '0' for an integer key), or an
    exponent without a decimal point (YAML 1.1 reads 1e-3 as text, 1.0e-3 as a number)."""
    if "integer" in expected and "number" not in expected:
        whole = text.strip().lstrip("+")
        if whole.lstrip("-").isdigit():
            return f"; it is text (quoted): write it without quotes, e.g. {int(whole)}"
        return f"; it is text: write a whole number without quotes, e.g. {int(float(text))}"
    if "e" in text.lower() and "." not in text.lower().partition("e")[0]:
        return f"; YAML reads {text!r} as text: write it with a decimal point, e.g. {_yaml_float(text)}"
    return f"; it is text (quoted): write it without quotes, e.g. {text.strip()}"


def _yaml_float(text: str) -> str:
    mantissa, _, exponent = text.lower().partition("e")
    mantissa = mantissa if "." in mantissa else f"{mantissa}.0"
    return f"{mantissa}e{exponent}" if exponent else mantissa


def _cross_reference_problems(config: Mapping[str, Any]) -> list[str]:
    """What the schema cannot check: names referring to other entries, subsets of the main grid, `extends`
    chains, and that every trained condition gives run settings `spacetime-snn train` accepts."""
    conditions = config["conditions"]
    defined = ", ".join(sorted(conditions))

    def unknown(key: str, name: str) -> str:
        return f"'{key}': unknown condition {name!r}; defined conditions: {defined}"

    problems = [unknown(f"conditions.{name}.extends", c["extends"])
                for name, c in conditions.items() if c.get("extends") is not None and c["extends"] not in conditions]
    if problems:
        return problems
    for name in conditions:
        try:
            _extends_chain(conditions, name)
        except ConfigError as error:
            problems.append(str(error))
    for grid in GRIDS:
        problems += [unknown(f"{grid}.conditions[{i}]", name)
                     for i, name in enumerate(config[grid]["conditions"]) if name not in conditions]
    problems += [unknown(f"figures.labels.{name}", name) for name in config["figures"]["labels"]
                 if name not in conditions]
    problems += [unknown(f"analysis.claims.roles.{role}", name)
                 for role, name in config["analysis"]["claims"]["roles"].items() if name not in conditions]
    if problems:
        return problems

    main = config["main"]

    def main_spatial(key: str, name: str) -> str | None:
        if name not in main["conditions"]:
            return f"'{key}': {name!r} is not a condition of the main grid ({', '.join(main['conditions'])})"
        if resolve_condition(config, name)["model"].get("delay_mode", config["model"]["delay_mode"]) != "spatial":
            return f"'{key}': {name!r} has no neuron positions (its delay_mode is not 'spatial')"
        return None

    inputmaps, figures = config["analysis"]["inputmaps"], config["figures"]
    checks = [main_spatial(f"analysis.inputmaps.conditions[{i}]", name)
              for i, name in enumerate(inputmaps["conditions"])]
    checks += [main_spatial(f"figures.fig2.{panel}", figures["fig2"][panel]) for panel in ("without_cost", "with_cost")]
    if figures["fig1"]["condition"] not in inputmaps["conditions"]:
        checks.append(f"'figures.fig1.condition': {figures['fig1']['condition']!r} is not mapped; allowed: one of "
                      f"analysis.inputmaps.conditions ({', '.join(inputmaps['conditions'])})")
    checks += [f"'analysis.inputmaps.seeds[{i}]': {seed} is not a seed of the main grid "
               f"({', '.join(map(str, main['seeds']))})"
               for i, seed in enumerate(inputmaps["seeds"] or []) if seed not in main["seeds"]]
    mapped_seeds = inputmaps["seeds"] or main["seeds"]
    if figures["seed"] not in main["seeds"] or figures["seed"] not in mapped_seeds:
        checks.append(f"'figures.seed': {figures['seed']} must be a seed of the main grid and of "
                      f"analysis.inputmaps.seeds; allowed: {', '.join(map(str, mapped_seeds))}")
    problems = [problem for problem in checks if problem]
    return problems + _settings_problems(config)


def _settings_problems(config: Mapping[str, Any]) -> list[str]:
    """Build every trained condition's run settings (and the synthetic-data spec) with the very code that
    `spacetime-snn train` (and `data synthetic`) will use, so a rejected value fails now, not hours later."""
    from .config import settings_from_dict

    problems = []
    for grid in GRIDS:
        sizes = config[grid]["hidden"] if isinstance(config[grid]["hidden"], list) else [config[grid]["hidden"]]
        for name in config[grid]["conditions"]:
            for hidden in sizes:  # every size: a `by_hidden` entry may hold the bad value
                try:
                    settings_from_dict(run_settings(config, name, hidden, config[grid]["seeds"][0]))
                except ConfigError as error:
                    problems.append(f"condition {name!r}: {error}")
    if config["data"]["source"] == "synthetic":
        from .data.synthetic import SyntheticSpec

        try:
            SyntheticSpec(**config["data"]["synthetic"])
        except ConfigError as error:
            problems.append(f"'data.synthetic': {error}")
    if config["data"]["source"] == "spoken":
        from .data.spoken import SpokenSpec

        values = {k: tuple(v) if isinstance(v, list) else v for k, v in config["data"]["spoken"].items()}
        try:
            SpokenSpec(**values)
        except ConfigError as error:
            problems.append(f"'data.spoken': {error}")
    return list(dict.fromkeys(problems))


# --------------------------------------------------------------------------------------------------------------
# Conditions, runs and run settings


def _extends_chain(conditions: Mapping[str, Any], name: str) -> list[str]:
    """[name, parent, grandparent, ...]; ConfigError on an unknown name or a cycle."""
    chain = [name]
    while True:
        if chain[-1] not in conditions:
            raise ConfigError(f"unknown condition {chain[-1]!r}; defined conditions: {', '.join(sorted(conditions))}")
        parent = conditions[chain[-1]].get("extends")
        if parent is None:
            return chain
        if parent in chain:
            raise ConfigError(f"'conditions.{name}.extends': {' -> '.join([*chain, parent])} is a cycle")
        chain.append(parent)


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `base` with `override` applied recursively: mappings merge, anything else (lists too) replaces.
    The same rule Snakemake applies to `--configfile` over config.yaml."""
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def resolve_condition(config: Mapping[str, Any], name: str, hidden: int | None = None) -> dict[str, dict[str, Any]]:
    """The `model` and `train` overrides of a condition after following its `extends` chain (the child wins);
    with `hidden`, each condition of the chain also applies its `by_hidden` entry for that size."""
    conditions = config["conditions"]
    resolved: dict[str, dict[str, Any]] = {"model": {}, "train": {}}
    for ancestor in reversed(_extends_chain(conditions, name)):
        layers = [conditions[ancestor]]
        layers += [entry for entry in conditions[ancestor].get("by_hidden", []) if entry["hidden"] == hidden]
        for layer in layers:
            for section in resolved:
                resolved[section] = deep_merge(resolved[section], layer.get(section, {}))
    return resolved


SURROGATE_ONLY = ("surrogate_spike_reg", "surrogate_delay_interpolation", "surrogate_clip_factor")


def run_settings(config: Mapping[str, Any], condition: str, hidden: int, seed: int) -> dict[str, Any]:
    """The settings `spacetime-snn train --settings` reads (docs/architecture.md, "Run settings"):
    the defaults, then the condition's overrides (with those for this hidden size), then the size and seed."""
    overrides = resolve_condition(config, condition, int(hidden))
    data = {key: copy.deepcopy(value) for key, value in config["data"].items() if key not in _DATA_SOURCE_KEYS}
    model = {**deep_merge(config["model"], overrides["model"]), "hidden": int(hidden)}
    if model.get("backend") == "auto":  # the default leaves settings.json (and the run's identity) as before
        del model["backend"]
    train = deep_merge(config["train"], overrides["train"])
    if train.get("gradient") == "eventprop":  # settings only the surrogate rule reads are not part of the run
        train = {key: value for key, value in train.items() if key not in SURROGATE_ONLY}
    identifiers = {"study": config["study"], "condition": condition, "hidden": int(hidden), "seed": int(seed)}
    return {"data": data, "model": model, "train": train, "seed": int(seed), "run": identifiers}


def grid_runs(config: Mapping[str, Any], grid: str) -> list[Run]:
    """The runs of one grid, in config order (conditions, then sizes, then seeds)."""
    spec = config[grid]
    sizes = spec["hidden"] if isinstance(spec["hidden"], list) else [spec["hidden"]]
    return [Run(c, int(h), int(s)) for c in spec["conditions"] for h in sizes for s in spec["seeds"]]


def all_runs(config: Mapping[str, Any]) -> list[Run]:
    """Every run of the study, once, even when both grids contain it."""
    return list(dict.fromkeys(run for grid in GRIDS for run in grid_runs(config, grid)))


def producer_runs(config: Mapping[str, Any], producer: str) -> list[Run]:
    """The runs whose tables from `producer` (a key of PRODUCER_TABLES) enter the aggregated CSVs: every main-grid
    run for metrics and pruning; the mapped runs for input maps; the two example networks of Fig. 2A/B."""
    if producer not in PRODUCER_TABLES:
        raise ValueError(f"unknown producer {producer!r}; known: {', '.join(PRODUCER_TABLES)}")
    main = grid_runs(config, "main")
    if producer == "inputmaps":
        mapped = config["analysis"]["inputmaps"]
        seeds = mapped["seeds"] or config["main"]["seeds"]
        return [run for run in main if run.condition in mapped["conditions"] and run.seed in seeds]
    if producer == "networkdata":
        figures = config["figures"]
        drawn = (figures["fig2"]["without_cost"], figures["fig2"]["with_cost"])
        return [run for run in main if run.condition in drawn and run.seed == figures["seed"]]
    return main


# --------------------------------------------------------------------------------------------------------------
# Paths and targets


def results_dir(config: Mapping[str, Any]) -> str:
    return RESULTS_DIR.format(study=config["study"])


def run_dir(config: Mapping[str, Any], condition: Any, hidden: Any, seed: Any) -> str:
    """A run's directory; give "{condition}", "{hidden}", "{seed}" to get the wildcard pattern of the rules."""
    return RUN_DIR.format(study=config["study"], condition=condition, hidden=hidden, seed=seed)


def _run_path(config: Mapping[str, Any], run: Run) -> str:
    return run_dir(config, run.condition, run.hidden, run.seed)


def aggregated_path(config: Mapping[str, Any], table: str) -> str:
    return f"{results_dir(config)}/aggregated/{table}.csv"


def table_inputs(config: Mapping[str, Any], table: str) -> list[str]:
    """The per-run files concatenated into results/<study>/aggregated/<table>.csv."""
    if table == "accuracy":
        return [f"{_run_path(config, run)}/summary.json" for run in all_runs(config)]
    if table not in TABLE_PRODUCER:
        raise ValueError(f"unknown table {table!r}; known: {', '.join(AGGREGATED_TABLES)}")
    return [f"{_run_path(config, run)}/analysis/{table}.csv" for run in producer_runs(config, TABLE_PRODUCER[table])]


def figure_inputs(config: Mapping[str, Any], figure: str) -> list[str]:
    """The aggregated CSVs a figure draws and nothing else, so building one figure runs only what it needs."""
    return [aggregated_path(config, table) for table in FIGURE_TABLES[figure]]


def data_files(root: str, source: str) -> dict[str, str]:
    """The HDF5 files `spacetime-snn data <source>` writes into `root`: {"train": path, "test": path}."""
    train, test = _DATA_FILES[source]
    root = str(root).rstrip("/")
    return {"train": f"{root}/{train}", "test": f"{root}/{test}"}


def claims_inputs(config: Mapping[str, Any]) -> list[str]:
    """The aggregated CSVs the claims report reads."""
    return [aggregated_path(config, table) for table in CLAIMS_TABLES]


def claims_paths(config: Mapping[str, Any]) -> dict[str, str]:
    """results/<study>/tables/claims.{csv,md,rst}, keyed by extension."""
    return {name.split(".")[1]: f"{results_dir(config)}/tables/{name}" for name in CLAIMS_FILES}


def final_targets(config: Mapping[str, Any]) -> list[str]:
    """What `snakemake` builds by default: every aggregated CSV, every figure (PDF + PNG), Table 1, the claims
    report and the results page (results.md)."""
    results = results_dir(config)
    return [
        *(aggregated_path(config, table) for table in AGGREGATED_TABLES),
        *(f"{results}/figures/{fig}.{ext}" for fig in FIGURE_TABLES for ext in ("pdf", "png")),
        f"{results}/tables/table1.csv",
        f"{results}/tables/table1.md",
        *claims_paths(config).values(),
        f"{results}/results.md",
    ]


def regex_alternatives(names: Iterable[str]) -> str:
    """A regex matching exactly one of `names` (longest first, so that no name is matched cut short)."""
    return "|".join(re.escape(name) for name in sorted(set(names), key=lambda n: (-len(n), n)))


# --------------------------------------------------------------------------------------------------------------
# Job resources (local scheduling and SLURM submission)


def attempt_runtime(minutes: int, attempt: int, max_minutes: int | None) -> int:
    """Time limit (minutes) of a job's `attempt` (1, 2, ...): `minutes` x attempt, at most `max_minutes`.

    A job retried after hitting its time limit (the SLURM profile's `retries`) thus gets more time; a training
    job also resumes from its checkpoint, so it needs at most what was left. The cap is the partitions' time
    limit: SLURM leaves a job asking for more pending forever (reason PartitionTimeLimit)."""
    runtime = minutes * attempt
    return runtime if max_minutes is None else min(runtime, max_minutes)


def job_resources(config: Mapping[str, Any], rule: str) -> dict[str, Any]:
    """Snakemake resources of one job of `rule` (config resources.<rule>), with the SLURM partition, account and
    GPU model of config `slurm`: GPU jobs go to slurm.gpu_partition, every other job to slurm.cpu_partition
    (empty names are left out: the cluster's default). `runtime` is a function of the attempt
    (`attempt_runtime`), which Snakemake calls with each job's attempt number."""
    requested, slurm = config["resources"][rule], config["slurm"]

    def runtime(wildcards, attempt):
        return attempt_runtime(requested["runtime"], attempt, slurm["max_runtime"])

    resources: dict[str, Any] = {"mem_mb": requested["mem_mb"], "runtime": runtime}
    gpu = requested["gpu"] > 0
    if gpu:
        resources["gpu"] = requested["gpu"]
        if slurm["gpu_model"]:
            resources["gpu_model"] = slurm["gpu_model"]
    partition = slurm["gpu_partition"] if gpu else slurm["cpu_partition"]
    if partition:
        resources["slurm_partition"] = partition
    if slurm["account"]:
        resources["slurm_account"] = slurm["account"]
    return resources


# --------------------------------------------------------------------------------------------------------------
# Command-line options of the rules' CLI calls


def options(values: Mapping[str, Any]) -> list[str]:
    """{"binary_nulls": 100, "prune_fractions": [0.1, 0.2], "x": None} -> ["--binary-nulls", "100",
    "--prune-fractions", "0.1", "0.2"]: a None value leaves its option out (the CLI default applies)."""
    tokens: list[str] = []
    for name, value in values.items():
        if value is None:
            continue
        tokens.append("--" + name.replace("_", "-"))
        tokens += [str(v) for v in value] if isinstance(value, (list, tuple)) else [str(value)]
    return tokens


def synthetic_options(config: Mapping[str, Any]) -> list[str]:
    """Options of `spacetime-snn data synthetic` (config data.synthetic)."""
    return options(config["data"]["synthetic"])


def spoken_options(config: Mapping[str, Any]) -> list[str]:
    """Options of `spacetime-snn data spoken` (config data.spoken; the rule adds --threads)."""
    return options(config["data"]["spoken"])


def metrics_options(config: Mapping[str, Any]) -> list[str]:
    """Options of `spacetime-snn metrics` (config analysis; the pruned graphs use pruning.length_remove)."""
    analysis = config["analysis"]
    names = ("seed", "null_cache", "binary_nulls", "weighted_nulls", "binary_keep_fraction", "epoch_every",
             "delay_bin_steps", "self_connections", "control_shuffles")
    return options({**{name: analysis[name] for name in names},
                    "prune_fractions": config["pruning"]["length_remove"]})


def inputmaps_options(config: Mapping[str, Any]) -> list[str]:
    """Options of `spacetime-snn inputmaps` (config analysis.inputmaps, minus the run selection)."""
    mapped = config["analysis"]["inputmaps"]
    return options({"seed": config["analysis"]["seed"],
                    **{k: v for k, v in mapped.items() if k not in ("conditions", "seeds")}})


def trained_conditions(config: Mapping[str, Any]) -> list[str]:
    """Every trained condition in a fixed order (main grid, then architecture-only): the colour order."""
    return list(dict.fromkeys([*config["main"]["conditions"], *config["architecture"]["conditions"]]))


def labels(config: Mapping[str, Any]) -> dict[str, str]:
    """Display label of every trained condition, in colour order; the name itself when none is configured."""
    configured = config["figures"]["labels"]
    return {name: configured.get(name, name) for name in trained_conditions(config)}


def figure_options(config: Mapping[str, Any], figure: str) -> list[str]:
    """Options of `spacetime-snn figure <figN>`: the labels of the figure's grid (one colour per condition, the
    same in every figure of that grid), its conditions, and the figure's example run / hidden size."""
    figures, main = config["figures"], config["main"]
    shown = config[FIGURE_GRID[figure]]["conditions"]
    grid_labels = {name: label for name, label in labels(config).items() if name in shown}  # colours per grid
    values: dict[str, Any] = {"labels": json.dumps(grid_labels, ensure_ascii=False),
                              "show": shown,
                              "dt_ms": config["data"]["dt_ms"]}
    if figure in ("fig1", "fig2", "fig3"):
        values["hidden"] = main["hidden"]
    if figure in ("fig1", "fig2"):
        values["seed"] = figures["seed"]
    if figure == "fig1":
        values["condition"] = figures["fig1"]["condition"]
    if figure == "fig2":
        values.update(figures["fig2"])
        values["binary_keep_fraction"] = config["analysis"]["binary_keep_fraction"]
    if figure == "fig3":
        values.update(figures["fig3"])
        values["clamp_steps"] = config["model"]["max_delay_steps"]
    if figure in ("fig2", "fig3"):
        values["self_connections"] = config["analysis"]["self_connections"]
    return options(values)


def claims_options(config: Mapping[str, Any]) -> list[str]:
    """Options of `spacetime-snn claims` (config analysis.claims, the main grid's size, the mapped conditions)."""
    claims = config["analysis"]["claims"]
    roles = claims["roles"]
    return options({"study": config["study"], "hidden": config["main"]["hidden"],
                    "labels": json.dumps(labels(config), ensure_ascii=False),
                    "mapped": config["analysis"]["inputmaps"]["conditions"],
                    **{key: roles[key] for key in ("non_spatial", "spatial", "spatial_cost", "no_delays",
                                                   "architecture_spatial", "architecture_non_spatial")},
                    **{key: claims[key] for key in ("alpha", "resamples", "max_exact", "permutations",
                                                   "accuracy_margin_pct")},
                    "binary_keep_fraction": config["analysis"]["binary_keep_fraction"],
                    "seed": config["analysis"]["seed"]})


def table_options(config: Mapping[str, Any]) -> list[str]:
    """Options of `spacetime-snn table`: the labels select and order the rows; the main grid's rows come first."""
    main = {"conditions": config["main"]["conditions"], "hidden": config["main"]["hidden"]}
    return options({"labels": json.dumps(labels(config), ensure_ascii=False), "main": json.dumps(main)})


def results_page_options(config: Mapping[str, Any]) -> list[str]:
    """Options of `spacetime-snn results-page`: the labels name and order the conditions."""
    return options({"labels": json.dumps(labels(config), ensure_ascii=False)})


def write_settings(path: str | Path, settings: Mapping[str, Any]) -> None:
    """Write a run's settings JSON atomically, keys in the order of the contract (data, model, train, seed, run;
    run = study, condition, hidden, seed), which consumers may carry into their CSV columns."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(settings, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


# --------------------------------------------------------------------------------------------------------------
# What the user is told: which config file selects a study, where a finished run put its results


def study_config_files(name: str, root: str | Path = ".") -> list[Path]:
    """The study configs under `root` (config.yaml, configs/*.yaml) whose `study` is `name`, relative to `root`."""
    root = Path(root)
    found = []
    for path in [root / "config.yaml", *sorted((root / "configs").glob("*.yaml"))]:
        try:
            declared = load_yaml(path)
        except Exception:  # unreadable or malformed: not a config this message can point to
            continue
        if isinstance(declared, dict) and declared.get("study") == name:
            found.append(path.relative_to(root))
    return found


def configfile_option(name: str | None, root: str | Path = ".") -> str:
    """The `--configfile=...` option (with a leading space) that selects study `name` in the repository at
    `root`: empty for the study of config.yaml itself, a placeholder naming the study when no file declares it."""
    if name is None:
        return " --configfile=<the config file of this study>"
    files = study_config_files(name, root)
    if Path("config.yaml") in files:
        return ""
    if files:
        return f" --configfile={files[0]}"
    return f" --configfile=<the config file that sets study: {name}>"


def configfile_arguments(configfiles: Iterable[str | Path], root: str | Path = ".") -> list[str]:
    """The --configfile arguments of the running command (Snakemake's `workflow.overwrite_configfiles`), as a user
    would type them again: paths relative to `root` where possible; one file as `--configfile=FILE`, several as
    `--configfile A B` (to be placed last: the option takes every word after it)."""
    root = Path(root).resolve()
    paths = []
    for path in configfiles:
        path = Path(path)
        try:
            path = path.resolve().relative_to(root)
        except ValueError:
            pass
        paths.append(str(path))
    if not paths:
        return []
    return [f"--configfile={paths[0]}"] if len(paths) == 1 else ["--configfile", *paths]


def wrong_study_message(target: str, other: str, config: Mapping[str, Any], root: str | Path = ".") -> str:
    """The error for a target under results/<other>/ while the config selects another study (usually a forgotten
    --configfile, or `--configfile FILE TARGET`, which reads TARGET as a second config file)."""
    option = configfile_option(other, root)
    return (f"{target} belongs to study '{other}', but the config of this command is study '{config['study']}' "
            f"(its results go to {results_dir(config)}/). Fix: `snakemake --cores 2{option} {target}`. Write "
            f"--configfile=FILE, or the targets before --configfile: `--configfile FILE TARGET` reads TARGET as a "
            f"second config file.")


def finished_message(config: Mapping[str, Any], configfiles: Iterable[str | Path], workdir: str | Path = ".",
                     repo: str | Path = ".") -> str:
    """What a successful `snakemake` run prints last: where the figures, Table 1 and the data behind them are
    (those present in `workdir`), and the command that makes the HTML report (Snakemake writes it in a separate
    call, once they all exist). `configfiles` are shown relative to `repo`, where the user types the command."""
    workdir = Path(workdir)
    results = results_dir(config)
    figures = [f"{results}/figures/{fig}.pdf" for fig in FIGURE_TABLES
               if (workdir / results / "figures" / f"{fig}.pdf").exists()]
    table = f"{results}/tables/table1.md"
    lines = [f"Study '{config['study']}': results in {results}/"]
    if figures:
        lines.append(f"  figures:  {', '.join(figures)} (a PNG beside each)")
    if (workdir / table).exists():
        lines.append(f"  Table 1:  {table} (and table1.csv)")
    claims = claims_paths(config)["md"]
    if (workdir / claims).exists():
        lines.append(f"  claims:   {claims} (and claims.csv): which claims of the paper these runs support")
    page = f"{results}/results.md"
    if (workdir / page).exists():
        lines.append(f"  results page: {page} (Table 1, every claim's verdict, the figures, time, commit, machine)")
    lines.append(f"  the data they are drawn from: {results}/aggregated/*.csv; each run: {results}/runs/; "
                 f"job logs: {results}/logs/")
    command = shlex.join(["snakemake", "--report", f"{results}/report.html",
                          *configfile_arguments(configfiles, repo)])
    if len(figures) == len(FIGURE_TABLES) and (workdir / table).exists():
        lines.append(f"  HTML report with the captions: `{command}` writes {results}/report.html")
    else:
        lines.append(f"  HTML report: once every figure and Table 1 exist, `{command}`")
    return "\n".join(lines)


def config_warnings(config: Mapping[str, Any]) -> list[str]:
    """Warnings about the trained conditions' settings (config.dt_warnings: a time step other than 1 ms), each
    once with the conditions it concerns; printed when the workflow starts."""
    from .config import dt_warnings, settings_from_dict

    concerned: dict[str, list[str]] = {}
    for run in dict.fromkeys(Run(r.condition, r.hidden, 0) for r in all_runs(config)):
        for warning in dt_warnings(settings_from_dict(run_settings(config, run.condition, run.hidden, 0))):
            names = concerned.setdefault(warning, [])
            if run.condition not in names:
                names.append(run.condition)
    return [f"condition(s) {', '.join(names)}: {warning}" for warning, names in concerned.items()]

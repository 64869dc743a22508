"""The paper's claims, tested on a study's runs: aggregated tables in, one row per tested comparison out.

Each claim of the figure captions (seeds/) is a comparison between conditions on one metric of the trained
networks ("the distance cost raises modularity": spatial_cost > spatial on Q of |W|). It is tested first on the
trained networks as they are (control "none"), then against each control that could produce the same difference
without learning (controls.py): the per-run excess over the control (trained minus control network of the same
run) is compared between the conditions, so "holds" beyond a control means "holds beyond what the control alone
gives". Where one condition has no defined control value (a non-spatial network's delays are all 0 before
training, so its delay-pruned graph is empty), the other condition's excess is tested against zero, and the note
says so.

Which runs a claim uses is written in its `runs` column: the main grid (`main.hidden`) for every network metric
and Table 1's accuracy; Fig. 4's claims (fewer parameters, above no delays) compare the architecture grid's
spatial, non-spatial and no-delay conditions at the same hidden size, trained alike. A claim whose conditions the
study does not train, or whose metric is absent, is `untestable` with a note.

Everything here is pure: DataFrames in, rows (dicts) out; statistics.py does the statistics, figures/claims_table.py
the rendering.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterator, Mapping

import numpy as np
import pandas as pd

from . import statistics as st
from .controls import INITIAL, SHUFFLED

COLUMNS = ("claim", "comparison", "metric", "effect", "ci_low", "ci_high", "p_value", "n", "verdict",
           "control", "graph", "runs", "note")
# The tables claims are computed from (results/<study>/aggregated/<name>.csv).
TABLES = ("accuracy", "final_metrics", "control_metrics", "pruning", "pruned_graph", "ridge")
# Columns each table must have; the first must be filled in every row (files of an older producer lack it).
TABLE_COLUMNS = {"accuracy": ("test_accuracy", "trainable_params"), "final_metrics": ("metric", "value"),
                 "control_metrics": ("network", "metric", "value"), "pruning": ("kind", "fraction_removed",
                                                                                  "test_accuracy"),
                 "pruned_graph": ("network", "fraction_removed", "modularity", "small_worldness"),
                 "ridge": ("method", "network", "r2")}

GRAPH_W = "|W|, weighted"
GRAPH_DELAY = "delay < percentile, binary"
GRAPH_LOCALITY = "delays (steps) weighted by |W|"
CONTROL_NOTES = {
    "none": "trained networks compared directly",
    INITIAL: "each run minus its initial network (epoch 0; random positions for spatial runs)",
    SHUFFLED: "each run minus its trained weights shuffled over the trained geometry (geometry-only control)",
    "random": "length pruning minus random pruning of as many connections (geometry-only control)",
    "untrained": "trained networks against networks drawn from the initial distribution (Fig. 1E, the "
                 "paper's comparison); for Fig. 1E `shuffled` is the trained weights against the trained "
                 "positions permuted among the neurons",
}


@dataclass(frozen=True)
class Roles:
    """The condition names the claims refer to (config analysis.claims.roles)."""

    non_spatial: str = "synaptic"
    spatial: str = "spatial"
    spatial_cost: str = "spatial_cost"
    no_delays: str = "none"
    architecture_spatial: str = "spatial2d"        # Fig. 4's conditions, trained with no_delays' protocol
    architecture_non_spatial: str = "nonspatial"


@dataclass(frozen=True)
class ClaimsSettings:
    """hidden: the main grid's hidden size; mapped: conditions with ridge R² (analysis.inputmaps.conditions);
    accuracy_margin_pct: "as accurate as" means a difference within +- this many percentage points;
    binary_keep_fraction: the binary graph of the small-worldness sigma, named in the `graph` column."""

    hidden: int
    roles: Roles = field(default_factory=Roles)
    mapped: tuple[str, ...] = ("spatial", "spatial_cost")
    accuracy_margin_pct: float = 2.0
    binary_keep_fraction: float | None = 0.1
    tests: st.TestSettings = field(default_factory=st.TestSettings)

    def __post_init__(self) -> None:
        if self.accuracy_margin_pct <= 0:
            raise ValueError(f"accuracy_margin_pct must be positive, got {self.accuracy_margin_pct}")


# --- per-run values ---------------------------------------------------------------------------------------------

def _seeds_text(seeds) -> str:
    seeds = sorted(int(s) for s in seeds)
    if not seeds:
        return "no runs"
    if len(seeds) > 2 and seeds == list(range(seeds[0], seeds[-1] + 1)):
        return f"s{seeds[0]}–{seeds[-1]}"
    return "s" + ",".join(map(str, seeds))


def _runs_text(condition: str, hidden: int, values: pd.Series) -> str:
    return f"{condition} h{hidden} {_seeds_text(values.dropna().index)}"


def _by_seed(frame: pd.DataFrame | None, condition: str, hidden: int, value: str, **where) -> pd.Series:
    """`value` of the runs (condition, hidden) indexed by seed (mean over rows, e.g. several random networks
    of one run are kept apart by the caller). Empty when the table or the runs are absent."""
    if frame is None or frame.empty:
        return pd.Series(dtype=float)
    mask = (frame["condition"] == condition) & (frame["hidden"] == hidden)
    for column, wanted in where.items():
        mask &= frame[column] == wanted
    chosen = frame.loc[mask, ["seed", value]]
    return chosen.groupby("seed")[value].mean().astype(float)


def _metric(tables: Mapping[str, pd.DataFrame | None], condition: str, hidden: int, metric: str,
            network: str = "trained") -> pd.Series:
    """A final_metrics (network "trained") or control_metrics (network "initial" / "shuffled") metric by seed."""
    if network == "trained":
        return _by_seed(tables.get("final_metrics"), condition, hidden, "value", metric=metric)
    return _by_seed(tables.get("control_metrics"), condition, hidden, "value", metric=metric, network=network)


def _excess(trained: pd.Series, control: pd.Series) -> pd.Series:
    """Per run: trained minus control (runs present in both)."""
    joined = pd.concat([trained.rename("t"), control.rename("c")], axis=1, join="inner")
    return (joined["t"] - joined["c"]).dropna()


# --- rows -------------------------------------------------------------------------------------------------------

def _row(claim: str, comparison: str, metric: str, outcome: st.Outcome, *, control: str = "none",
         graph: str = "", runs: str = "", note: str = "") -> dict:
    return {"claim": claim, "comparison": comparison, "metric": metric, "effect": outcome.effect,
            "ci_low": outcome.ci_low, "ci_high": outcome.ci_high, "p_value": outcome.p_value, "n": outcome.n,
            "verdict": outcome.verdict, "control": control, "graph": graph, "runs": runs, "note": note}


def _missing(claim: str, comparison: str, metric: str, note: str, **extra) -> dict:
    return _row(claim, comparison, metric, st.Outcome(math.nan, math.nan, math.nan, math.nan, "0 vs 0",
                                                      st.UNTESTABLE), note=note, **extra)


def _one_condition(a: str, b: str) -> str | None:
    """The note of a comparison whose two sides are one condition (two roles of analysis.claims.roles given the
    same name, e.g. in a sweep that trains one kind of network): nothing to compare, so untestable."""
    return f"{a} on both sides: analysis.claims.roles names one condition for both roles" if a == b else None


def _symbol(direction: str) -> str:
    return ">" if direction == "greater" else "<"


def _contrast_rows(claim: str, metric: str, a: str, b: str, direction: str, values: dict[str, pd.Series],
                   controls: dict[str, dict[str, pd.Series]], settings: ClaimsSettings, *,
                   graph: str = "", unit_note: str = "") -> Iterator[dict]:
    """The raw comparison of conditions a and b, then one row per control: the same comparison of the per-run
    excesses over that control (or of a's excess alone when b has no defined control value)."""
    hidden = settings.hidden
    comparison = f"{a} {_symbol(direction)} {b}"
    runs = f"{_runs_text(a, hidden, values[a])} vs {_runs_text(b, hidden, values[b])}"
    if same := _one_condition(a, b):
        yield _missing(claim, comparison, metric, same, graph=graph, runs=runs)
        return
    if values[a].dropna().empty or values[b].dropna().empty:
        absent = [c for c in (a, b) if values[c].dropna().empty]
        yield _missing(claim, comparison, metric, f"no {metric} for {', '.join(absent)} at h{hidden}",
                       graph=graph, runs=runs)
        return
    outcome = st.compare_groups(values[a].dropna().to_numpy(), values[b].dropna().to_numpy(),
                                direction=direction, settings=settings.tests)
    yield _row(claim, comparison, metric, outcome, graph=graph, runs=runs, note=unit_note)
    for control, control_values in controls.items():
        excess_a = _excess(values[a], control_values.get(a, pd.Series(dtype=float)))
        excess_b = _excess(values[b], control_values.get(b, pd.Series(dtype=float)))
        if excess_a.empty:
            yield _missing(claim, comparison, metric, f"the {control} control of {a} is undefined or absent",
                           control=control, graph=graph, runs=runs)
        elif excess_b.empty:
            paired = st.compare_paired(excess_a.to_numpy(), direction=direction, settings=settings.tests)
            yield _row(claim, comparison, metric, paired, control=control, graph=graph,
                       runs=_runs_text(a, hidden, excess_a),
                       note=f"the {control} control of {b} is undefined (e.g. an empty graph): {a} trained "
                            f"{_symbol(direction)} {a} {control}, paired by run")
        else:
            outcome = st.compare_groups(excess_a.to_numpy(), excess_b.to_numpy(), direction=direction,
                                        settings=settings.tests)
            yield _row(claim, comparison, metric, outcome, control=control, graph=graph, runs=runs,
                       note=f"excess over the {control} network of each run")


def _graph_metric_claim(claim: str, metric: str, pairs, tables, settings: ClaimsSettings, *,
                        graph: str) -> Iterator[dict]:
    """A Fig. 2 claim on a metric of the recurrent weights, against the initial and the shuffled networks."""
    hidden = settings.hidden
    for a, b, direction in pairs:
        values = {c: _metric(tables, c, hidden, metric) for c in (a, b)}
        controls = {network: {c: _metric(tables, c, hidden, metric, network) for c in (a, b)}
                    for network in (INITIAL, SHUFFLED)}
        yield from _contrast_rows(claim, metric, a, b, direction, values, controls, settings, graph=graph)


# --- the claims -------------------------------------------------------------------------------------------------

def _accuracy_claims(tables, settings: ClaimsSettings) -> Iterator[dict]:
    """Table 1's headline conditions as accurate as each other; in Fig. 4's grid, spatial networks as accurate as
    non-spatial ones with fewer parameters, and both above networks without delays (same grid, same protocol)."""
    roles, hidden, accuracy = settings.roles, settings.hidden, tables.get("accuracy")
    percent = None if accuracy is None else accuracy.assign(percent=100 * accuracy["test_accuracy"])

    def values(condition: str) -> pd.Series:
        return _by_seed(percent, condition, hidden, "percent")

    margin = settings.accuracy_margin_pct
    for claim, spatial, non_spatial in (
            ("Spatial networks are as accurate as non-spatial ones (Table 1)", roles.spatial, roles.non_spatial),
            ("Spatial networks are as accurate as non-spatial ones (Fig. 4)", roles.architecture_spatial,
             roles.architecture_non_spatial)):
        comparison = f"{spatial} ≈ {non_spatial} (± {margin:g} points)"
        a, b = values(spatial), values(non_spatial)
        runs = f"{_runs_text(spatial, hidden, a)} vs {_runs_text(non_spatial, hidden, b)}"
        same = _one_condition(spatial, non_spatial)
        if a.empty or b.empty or same:
            yield _missing(claim, comparison, "test_accuracy_pct",
                           same or f"{spatial} or {non_spatial} not trained at h{hidden}", runs=runs)
            continue
        outcome = st.compare_equivalent(a.to_numpy(), b.to_numpy(), margin=margin, settings=settings.tests)
        yield _row(claim, comparison, "test_accuracy_pct", outcome, runs=runs,
                   note="effect in percentage points; p from two one-sided tests")

    spatial, non_spatial, none = roles.architecture_spatial, roles.architecture_non_spatial, roles.no_delays
    claim = "... with fewer trainable parameters (Fig. 4)"
    params = {c: _by_seed(accuracy, c, hidden, "trainable_params") for c in (spatial, non_spatial)}
    same = _one_condition(spatial, non_spatial)
    if params[spatial].empty or params[non_spatial].empty or same:
        yield _missing(claim, f"{spatial} < {non_spatial}", "trainable_params",
                       same or f"{spatial} or {non_spatial} not trained at h{hidden}")
    else:
        outcome = st.compare_exact(params[spatial].to_numpy(), params[non_spatial].to_numpy(), direction="less")
        yield _row(claim, f"{spatial} < {non_spatial}", "trainable_params", outcome,
                   runs=f"{_runs_text(spatial, hidden, params[spatial])} vs "
                        f"{_runs_text(non_spatial, hidden, params[non_spatial])}",
                   note="recurrent layer (weights + delays or positions); a count, without sampling error")

    for condition in (spatial, non_spatial):
        claim = f"{'Spatial' if condition == spatial else 'Non-spatial'} networks beat networks without delays " \
                f"(Fig. 4)"
        yield from _contrast_rows(claim, "test_accuracy_pct", condition, none, "greater",
                                  {condition: values(condition), none: values(none)}, {}, settings,
                                  unit_note="effect in percentage points")


def _weight_claims(tables, settings: ClaimsSettings) -> Iterator[dict]:
    roles = settings.roles
    cost, spatial, non_spatial = roles.spatial_cost, roles.spatial, roles.non_spatial
    yield from _graph_metric_claim(
        "The distance cost leaves fewer long strong connections (Fig. 2B)", "strength_weighted_delay",
        [(cost, spatial, "less")], tables, settings, graph=GRAPH_LOCALITY)
    yield from _graph_metric_claim(
        "The distance cost raises modularity (Fig. 2D)", "modularity",
        [(cost, spatial, "greater"), (cost, non_spatial, "greater")], tables, settings, graph=GRAPH_W)
    yield from _graph_metric_claim(
        "Spatial networks have lower weight entropy (Fig. 2E)", "weight_entropy",
        [(spatial, non_spatial, "less"), (cost, non_spatial, "less")], tables, settings, graph=GRAPH_W)
    yield from _graph_metric_claim(
        "The distance cost lowers communicability entropy (Fig. 2C)", "communicability_entropy",
        [(cost, spatial, "less"), (cost, non_spatial, "less")], tables, settings, graph=GRAPH_W)
    keep = settings.binary_keep_fraction
    binary = "every edge of |W|, binary" if keep is None else f"strongest {100 * keep:g} % of |W|, binary"
    for metric, graph in (("small_worldness", binary),
                          ("clustering_ratio", "|W| / max, weighted; nulls: all weights shuffled (authors' v2)")):
        yield from _graph_metric_claim(
            "The distance cost raises small-worldness (Fig. 2F)", metric,
            [(cost, spatial, "greater"), (cost, non_spatial, "greater")], tables, settings, graph=graph)


def _pruning_loss(pruning: pd.DataFrame | None, condition: str, hidden: int, kind: str) -> pd.Series:
    """Per run: accuracy (percentage points) lost on average over the pruning levels of `kind`, relative to the
    unpruned network (fraction_removed 0 of the same kind, or of length pruning for the random control)."""
    if pruning is None or pruning.empty:
        return pd.Series(dtype=float)
    runs = pruning[(pruning["condition"] == condition) & (pruning["hidden"] == hidden)]
    unpruned = runs[runs["fraction_removed"] == 0].groupby("seed")["test_accuracy"].mean()
    pruned = runs[(runs["kind"] == kind) & (runs["fraction_removed"] > 0)]
    if pruned.empty or unpruned.empty:
        return pd.Series(dtype=float)
    mean_pruned = pruned.groupby("seed")["test_accuracy"].mean()
    return (100 * (unpruned - mean_pruned)).dropna()


def _pruning_claims(tables, settings: ClaimsSettings) -> Iterator[dict]:
    roles, hidden, pruning = settings.roles, settings.hidden, tables.get("pruning")
    claim = "Pruning hurts spatial networks less (Fig. 3A)"
    for kind in ("length", "magnitude"):
        metric = f"accuracy_lost_{kind}_pruning_pct"
        for condition in (roles.spatial, roles.spatial_cost):
            b = roles.non_spatial
            values = {c: _pruning_loss(pruning, c, hidden, kind) for c in (condition, b)}
            controls = {}
            if kind == "length":  # random removal of as many connections: length pruning of re-drawn positions
                controls["random"] = {c: _pruning_loss(pruning, c, hidden, "random") for c in (condition, b)}
            yield from _contrast_rows(claim, metric, condition, b, "less", values, controls, settings,
                                      unit_note="mean over the pruning levels, in percentage points")


def _pruned_graph_claims(tables, settings: ClaimsSettings) -> Iterator[dict]:
    roles, hidden, graph = settings.roles, settings.hidden, tables.get("pruned_graph")
    if graph is None or graph.empty:
        level = math.nan
    else:
        level = float(graph["fraction_removed"].max())
    for metric, claim in (("modularity", "Length pruning leaves spatial networks more modular (Fig. 3C)"),
                          ("small_worldness", "Length pruning leaves spatial networks more small-world (Fig. 3D)")):
        for condition in (roles.spatial, roles.spatial_cost):
            b = roles.non_spatial
            where = {"fraction_removed": level}
            values = {c: _by_seed(graph, c, hidden, metric, network="trained", **where) for c in (condition, b)}
            controls = {INITIAL: {c: _by_seed(graph, c, hidden, metric, network=INITIAL, **where)
                                  for c in (condition, b)}}
            yield from _contrast_rows(claim, metric, condition, b, "greater", values, controls, settings,
                                      graph=f"{GRAPH_DELAY} ({100 * level:g} % longest removed)")


def _delay_claims(tables, settings: ClaimsSettings) -> Iterator[dict]:
    roles, hidden = settings.roles, settings.hidden
    spatial, non_spatial = roles.spatial, roles.non_spatial
    for claim, metric, a, b, direction in (
            ("Non-spatial delays stay mostly at zero (Fig. 3B)", "delay_fraction_zero", non_spatial, spatial,
             "greater"),
            ("Non-spatial networks grow a few very long delays (Fig. 3B)", "delay_max", non_spatial, spatial,
             "greater"),
            ("Spatial delays spread out in the low range (Fig. 3B)", "delay_iqr", spatial, non_spatial, "greater")):
        values = {c: _metric(tables, c, hidden, metric) for c in (a, b)}
        controls = {INITIAL: {c: _metric(tables, c, hidden, metric, INITIAL) for c in (a, b)}}
        yield from _contrast_rows(claim, metric, a, b, direction, values, controls, settings,
                                  graph="delays of all connections (steps)")


def _input_map_claims(tables, settings: ClaimsSettings) -> Iterator[dict]:
    """Trained R² against the untrained networks (the paper's comparison) and against the trained weights with the
    positions permuted among the neurons (same weight scale and positions, no mapping: the control)."""
    hidden, ridge = settings.hidden, tables.get("ridge")
    claim = "Input channels map onto positions (Fig. 1E)"
    if not settings.mapped:
        yield _missing(claim, "trained > untrained", "ridge_r2", "no condition is mapped "
                       "(analysis.inputmaps.conditions)")
        return
    for condition in settings.mapped:
        for method in ("cv", "in_sample"):
            metric = f"ridge_r2_{method}"
            comparison = f"{condition} trained > untrained"
            if ridge is None or ridge.empty or "method" not in ridge:
                yield _missing(claim, comparison, metric, "ridge.csv absent or without a method column")
                continue
            rows = ridge[(ridge["condition"] == condition) & (ridge["hidden"] == hidden)
                         & (ridge["method"] == method)]
            trained = rows.loc[rows["network"] == "trained", "r2"].to_numpy(float)
            seeds = rows.loc[rows["network"] == "trained", "seed"]
            what = ("cross-validated R² over neurons (this project)" if method == "cv"
                    else "in-sample R² (the authors' regression_input_pos.py)")
            runs = f"{condition} h{hidden} {_seeds_text(seeds)}"
            if trained.size == 0:
                yield _missing(claim, comparison, metric, f"no ridge R² for {condition} at h{hidden}",
                               control="untrained", runs=runs)
                continue
            # Untrained networks are independent draws: an unpaired comparison with the trained networks.
            random = rows.loc[rows["network"] == "random", "r2"].to_numpy(float)
            if random.size == 0:
                yield _missing(claim, comparison, metric, f"no untrained networks for {condition} at h{hidden}",
                               control="untrained", runs=runs)
            else:
                outcome = st.compare_groups(trained, random, direction="greater", settings=settings.tests)
                yield _row(claim, comparison, metric, outcome, control="untrained",
                           graph="input-weight rows -> positions", runs=f"{runs}; {random.size} untrained networks",
                           note=f"{what}; control: networks drawn from the initial distribution")
            # The permuted-positions networks reuse each run's own weights: paired by run.
            trained_by_seed = rows[rows["network"] == "trained"].groupby("seed")["r2"].mean()
            shuffled_by_seed = rows[rows["network"] == "shuffled"].groupby("seed")["r2"].mean()
            excess = _excess(trained_by_seed, shuffled_by_seed)
            if excess.empty:
                yield _missing(claim, comparison, metric, f"no permuted-positions control for {condition} at "
                               f"h{hidden}", control="shuffled", runs=runs)
                continue
            outcome = st.compare_paired(excess.to_numpy(), direction="greater", settings=settings.tests)
            yield _row(claim, comparison, metric, outcome, control="shuffled", graph="input-weight rows -> positions",
                       runs=runs, note=f"{what}; control: the trained weights against the positions permuted among "
                                       "neurons (mean over permutations), paired by run")


def evaluate_claims(tables: Mapping[str, pd.DataFrame | None], settings: ClaimsSettings) -> pd.DataFrame:
    """Every claim, tested: one row per (claim, comparison, metric, control) in the order of COLUMNS."""
    rows = [*_accuracy_claims(tables, settings), *_weight_claims(tables, settings),
            *_pruning_claims(tables, settings), *_pruned_graph_claims(tables, settings),
            *_delay_claims(tables, settings), *_input_map_claims(tables, settings)]
    return pd.DataFrame(rows, columns=list(COLUMNS))


# --- summary: what the controls change --------------------------------------------------------------------------

_WEAKEST_FIRST = (st.CONTRADICTED, st.NOT_SHOWN, st.UNTESTABLE)

SUMMARY_RULE = (
    "A comparison holds beyond its controls when it holds on the trained networks and against every control; "
    "otherwise its verdict beyond controls is the first of contradicted, not shown, untestable that a control row "
    "gives (a comparison that does not hold on the trained networks keeps its verdict)."
)


# A metric whose verdict on the trained networks is only as good as a stricter measure of the same thing: the
# authors' in-sample R² scores the positions on the neurons it was fitted to (it grows with the weights' scale
# whatever they encode), so it cannot hold where the cross-validated R² does not.
CHECKED_BY = {"ridge_r2_in_sample": ("ridge_r2_cv", "cross-validated R²")}
_STRENGTH = {st.HOLDS: 0, st.NOT_SHOWN: 1, st.UNTESTABLE: 2, st.CONTRADICTED: 3}

CHANGED_BY_RULE = (
    "Changed by: what lowered a comparison's verdict from holds — a control whose row does not hold (its verdict "
    "beyond controls is then that row's), or, for the authors' in-sample R², the cross-validated R² of the same "
    "comparison (its verdict on the trained networks is then the cross-validated one's); — when nothing did."
)


def _trained_verdict(group: pd.DataFrame) -> str:
    raw = group[group["control"].isin(["none", "untrained"])]
    return raw["verdict"].iloc[0] if not raw.empty else st.UNTESTABLE


def summarise(claims: pd.DataFrame) -> pd.DataFrame:
    """One row per (claim, comparison, metric): its verdict on the trained networks (no better than that of the
    stricter measure in CHECKED_BY), its verdict beyond the controls (SUMMARY_RULE) and what changed it."""
    rows = []
    keys = ["claim", "comparison", "metric"]
    groups = dict(list(claims.groupby(keys, sort=False)))
    for key, group in groups.items():
        controls = group[~group["control"].isin(["none", "untrained"])]
        verdict = _trained_verdict(group)
        checked = CHECKED_BY.get(key[2])
        if verdict == st.HOLDS and checked and (key[0], key[1], checked[0]) in groups:
            strict = _trained_verdict(groups[(key[0], key[1], checked[0])])
            if strict != st.HOLDS:
                rows.append({**dict(zip(keys, key)), "verdict": strict, "verdict_beyond_controls": strict,
                             "controls": ", ".join(controls["control"]) or "—",
                             "changed_by": f"{checked[1]} ({checked[0]}; in-sample alone: holds)"})
                continue
        beyond, changed_by = verdict, []
        if verdict == st.HOLDS:
            for weaker in _WEAKEST_FIRST:
                failing = controls[controls["verdict"] == weaker]
                if not failing.empty:
                    beyond, changed_by = weaker, failing["control"].tolist()
                    break
        rows.append({**dict(zip(keys, key)), "verdict": verdict, "verdict_beyond_controls": beyond,
                     "controls": ", ".join(controls["control"]) or "—", "changed_by": ", ".join(changed_by)})
    return pd.DataFrame(rows, columns=[*keys, "verdict", "verdict_beyond_controls", "controls", "changed_by"])

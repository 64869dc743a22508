"""The claims report on hand-made aggregated tables: planted effects are found, effects that a control also shows
are not credited to learning, too few seeds or untrained conditions make a claim untestable."""

import numpy as np
import pandas as pd
import pytest

from spacetime_snn.analysis import claims, controls
from spacetime_snn.analysis import statistics as st

HIDDEN = 16
MAIN = ("synaptic", "spatial", "spatial_cost")
# The hand-made study trains Fig. 4's comparison with the main grid's conditions.
ROLES = claims.Roles(architecture_spatial="spatial", architecture_non_spatial="synaptic")
FAST = claims.ClaimsSettings(hidden=HIDDEN, roles=ROLES, tests=st.TestSettings(resamples=500, permutations=2000))


def _ids(condition, seed, hidden=HIDDEN):
    return {"study": "t", "condition": condition, "hidden": hidden, "seed": seed}


def _tables(seeds=range(6), shifts=None, control_shifts=None, seed=0):
    """Tables of 6 seeds per condition, every metric ~ N(0, 0.01) around a base value; `shifts` adds
    {(condition, metric): delta} to the trained networks, `control_shifts` {(network, condition, metric): delta}
    to a control."""
    rng = np.random.default_rng(seed)
    shifts, control_shifts = shifts or {}, control_shifts or {}
    metrics = ("modularity", "weight_entropy", "communicability_entropy", "small_worldness", "clustering_ratio",
               "delay_fraction_zero", "delay_max", "delay_iqr", "strength_weighted_delay")
    accuracy, final, control, pruning, pruned, ridge = [], [], [], [], [], []
    for condition in (*MAIN, "none"):
        for s in seeds:
            ids = _ids(condition, s)
            acc = 0.8 + shifts.get((condition, "accuracy"), 0.0) + rng.normal(0, 0.005)
            params = {"synaptic": 2 * HIDDEN ** 2, "none": HIDDEN ** 2}.get(condition, HIDDEN ** 2 + 2 * HIDDEN)
            accuracy.append({**ids, "test_accuracy": acc, "trainable_params": params})
            if condition == "none":
                continue
            for metric in metrics:
                final.append({**ids, "metric": metric,
                              "value": 1.0 + shifts.get((condition, metric), 0.0) + rng.normal(0, 0.01)})
                for network in (controls.INITIAL, controls.SHUFFLED):
                    delta = control_shifts.get((network, condition, metric), 0.0)
                    control.append({**ids, "network": network, "metric": metric,
                                    "value": 1.0 + delta + rng.normal(0, 0.01)})
            for kind, fractions in (("magnitude", (0.0, 0.5)), ("length", (0.0, 0.2)), ("random", (0.2,))):
                for fraction in fractions:
                    loss = shifts.get((condition, f"loss_{kind}"), 0.1) * (fraction > 0)
                    pruning.append({**ids, "kind": kind, "fraction_removed": fraction,
                                    "test_accuracy": acc - loss + rng.normal(0, 0.002)})
            for network in ("trained", controls.INITIAL):
                for fraction in (0.0, 0.3):
                    q = 0.1 + shifts.get((network, condition, "pruned_q"), 0.0) + rng.normal(0, 0.01)
                    if network == controls.INITIAL and condition == "synaptic" and fraction > 0:
                        q = np.nan  # all-zero initial delays: the pruned graph is empty
                    pruned.append({**ids, "network": network, "fraction_removed": fraction, "modularity": q,
                                   "small_worldness": 1.0 + rng.normal(0, 0.01)})
            if condition != "synaptic":
                for method in ("cv", "in_sample"):
                    ridge.append({**ids, "method": method, "network": "trained",
                                  "r2": 0.5 + rng.normal(0, 0.05)})
                    ridge += [{**ids, "method": method, "network": network,
                               "r2": shifts.get((condition, f"ridge_{network}"), 0.0) + rng.normal(0, 0.05)}
                              for network in ("random", "shuffled") for _ in range(3)]
    return {"accuracy": pd.DataFrame(accuracy), "final_metrics": pd.DataFrame(final),
            "control_metrics": pd.DataFrame(control), "pruning": pd.DataFrame(pruning),
            "pruned_graph": pd.DataFrame(pruned), "ridge": pd.DataFrame(ridge)}


def _rows(result, claim_start, comparison, metric=None):
    chosen = result[result["claim"].str.startswith(claim_start) & (result["comparison"] == comparison)]
    return chosen if metric is None else chosen[chosen["metric"] == metric]


def test_every_claim_is_a_row_with_the_documented_columns():
    result = claims.evaluate_claims(_tables(), FAST)
    assert list(result.columns) == list(claims.COLUMNS)
    assert set(result["verdict"]) <= set(st.VERDICTS)
    starts = ("Spatial networks are as accurate", "... with fewer", "Spatial networks beat", "Non-spatial networks beat",
              "The distance cost leaves fewer long strong connections", "The distance cost raises modularity",
              "Spatial networks have lower weight entropy",
              "The distance cost lowers communicability", "The distance cost raises small-worldness",
              "Pruning hurts", "Length pruning leaves spatial networks more modular",
              "Length pruning leaves spatial networks more small-world", "Non-spatial delays stay",
              "Non-spatial networks grow", "Spatial delays spread", "Input channels map")
    for start in starts:
        assert result["claim"].str.startswith(start).any(), start


def test_a_planted_effect_holds_and_no_effect_is_not_shown():
    result = claims.evaluate_claims(_tables(shifts={("spatial_cost", "modularity"): 0.05}), FAST)
    rows = _rows(result, "The distance cost raises modularity", "spatial_cost > spatial").set_index("control")
    assert rows.loc["none", "verdict"] == st.HOLDS
    assert rows.loc["none", "effect"] == pytest.approx(0.05, abs=0.015)
    assert rows.loc["none", "ci_low"] > 0 and rows.loc["none", "p_value"] <= 0.05
    assert rows.loc["none", "n"] == "6 vs 6"
    assert set(rows["verdict"]) == {st.HOLDS}  # the controls show no such difference
    entropy = _rows(result, "The distance cost lowers communicability", "spatial_cost < spatial")
    assert entropy.set_index("control").loc["none", "verdict"] == st.NOT_SHOWN


def test_an_effect_the_geometry_only_control_also_shows_is_not_credited_to_learning():
    """Sparser weights raise Louvain's Q whatever their wiring: planted in the trained networks and, equally, in
    their shuffled weights, the difference holds on the trained networks but not beyond the control."""
    tables = _tables(shifts={("spatial_cost", "modularity"): 0.05},
                     control_shifts={("shuffled", "spatial_cost", "modularity"): 0.05})
    result = claims.evaluate_claims(tables, FAST)
    rows = _rows(result, "The distance cost raises modularity", "spatial_cost > spatial").set_index("control")
    assert rows.loc["none", "verdict"] == st.HOLDS
    assert rows.loc["initial", "verdict"] == st.HOLDS
    assert rows.loc["shuffled", "verdict"] == st.NOT_SHOWN
    assert rows.loc["shuffled", "effect"] == pytest.approx(0.0, abs=0.02)
    summary = claims.summarise(result).set_index(["claim", "comparison", "metric"])
    line = summary.loc[("The distance cost raises modularity (Fig. 2D)", "spatial_cost > spatial", "modularity")]
    assert (line["verdict"], line["verdict_beyond_controls"], line["changed_by"]) == (
        st.HOLDS, st.NOT_SHOWN, "shuffled")


def test_strong_connections_made_short_by_learning_hold_beyond_the_shuffled_weights():
    """Fig. 2B: the cost puts the strength on short connections. Planted in the trained spatial + cost networks
    only, the claim holds against both controls; planted in their shuffled weights as well (short delays whatever
    sits on them), it is not credited to where learning put the weights."""
    planted = {("spatial_cost", "strength_weighted_delay"): -0.05}
    result = claims.evaluate_claims(_tables(shifts=planted), FAST)
    rows = _rows(result, "The distance cost leaves fewer long strong connections", "spatial_cost < spatial",
                 "strength_weighted_delay").set_index("control")
    assert set(rows.index) == {"none", "initial", "shuffled"}
    assert set(rows["verdict"]) == {st.HOLDS}
    assert rows.loc["none", "graph"] == claims.GRAPH_LOCALITY
    geometry = _tables(shifts=planted, control_shifts={("shuffled", "spatial_cost", "strength_weighted_delay"): -0.05})
    rows = _rows(claims.evaluate_claims(geometry, FAST), "The distance cost leaves fewer long strong connections",
                 "spatial_cost < spatial").set_index("control")
    assert (rows.loc["none", "verdict"], rows.loc["shuffled", "verdict"]) == (st.HOLDS, st.NOT_SHOWN)


def test_an_effect_in_the_wrong_direction_is_contradicted():
    result = claims.evaluate_claims(_tables(shifts={("spatial", "weight_entropy"): 0.05}), FAST)
    rows = _rows(result, "Spatial networks have lower weight entropy", "spatial < synaptic")
    assert rows.set_index("control").loc["none", "verdict"] == st.CONTRADICTED


def test_pruning_claim_against_random_removal():
    """Spatial nets lose less to length pruning (0.05 vs 0.1), but also to random removal: not beyond control."""
    shifts = {("spatial", "loss_length"): 0.05, ("spatial", "loss_random"): 0.05}
    result = claims.evaluate_claims(_tables(shifts=shifts), FAST)
    rows = _rows(result, "Pruning hurts", "spatial < synaptic", "accuracy_lost_length_pruning_pct")
    rows = rows.set_index("control")
    assert rows.loc["none", "verdict"] == st.HOLDS
    assert rows.loc["none", "effect"] == pytest.approx(-5.0, abs=0.5)  # percentage points
    assert rows.loc["random", "verdict"] == st.NOT_SHOWN


def test_an_undefined_control_falls_back_to_the_condition_against_its_own_initial_network():
    shifts = {("trained", "spatial", "pruned_q"): 0.05}
    result = claims.evaluate_claims(_tables(shifts=shifts), FAST)
    rows = _rows(result, "Length pruning leaves spatial networks more modular", "spatial > synaptic")
    rows = rows.set_index("control")
    assert rows.loc["none", "verdict"] == st.HOLDS
    assert rows.loc["initial", "n"] == "6 paired"
    assert "undefined" in rows.loc["initial", "note"]
    assert rows.loc["initial", "verdict"] == st.HOLDS


def test_accuracy_equivalence_parameters_and_no_delays():
    result = claims.evaluate_claims(_tables(shifts={("none", "accuracy"): -0.1}), FAST)
    equal = result[result["claim"].str.startswith("Spatial networks are as accurate")]
    assert len(equal) == 2  # Table 1 (main grid) and Fig. 4 (architecture grid)
    assert set(equal["verdict"]) == {st.HOLDS} and (equal["effect"].abs() < 1.0).all()
    fewer = result[result["claim"].str.startswith("... with fewer")].iloc[0]
    assert fewer["verdict"] == st.HOLDS and fewer["effect"] == HIDDEN ** 2 + 2 * HIDDEN - 2 * HIDDEN ** 2
    beat = result[result["claim"].str.startswith("Spatial networks beat")].iloc[0]
    assert beat["verdict"] == st.HOLDS and beat["effect"] == pytest.approx(10.0, abs=1.0)
    assert "none h16 s0–5" in beat["runs"]


def test_too_few_seeds_or_untrained_conditions_are_untestable():
    two = claims.evaluate_claims(_tables(seeds=range(2), shifts={("spatial_cost", "modularity"): 0.5}), FAST)
    graph_rows = two[two["claim"].str.startswith("The distance cost raises modularity")]
    assert set(graph_rows["verdict"]) == {st.UNTESTABLE}
    assert graph_rows["effect"].notna().all()  # the effect and its interval are still reported
    default_roles = claims.evaluate_claims(_tables(), claims.ClaimsSettings(hidden=HIDDEN, tests=FAST.tests))
    fig4 = default_roles[default_roles["claim"].str.startswith("Spatial networks beat")].iloc[0]
    assert fig4["verdict"] == st.UNTESTABLE and "spatial2d" in fig4["note"]  # the grid has no spatial2d
    tables = _tables()
    tables["accuracy"] = tables["accuracy"][tables["accuracy"]["condition"] != "none"]
    result = claims.evaluate_claims(tables, FAST)
    beat = result[result["claim"].str.startswith("Spatial networks beat")].iloc[0]
    assert beat["verdict"] == st.UNTESTABLE and "none" in beat["note"]
    ridge = claims.evaluate_claims({**tables, "ridge": None}, FAST)
    assert set(ridge[ridge["claim"].str.startswith("Input channels")]["verdict"]) == {st.UNTESTABLE}


def test_input_maps_compare_trained_with_untrained_networks_for_both_methods():
    result = claims.evaluate_claims(_tables(), FAST)
    rows = result[result["claim"].str.startswith("Input channels")]
    assert set(rows["metric"]) == {"ridge_r2_cv", "ridge_r2_in_sample"}
    assert set(rows["control"]) == {"untrained", "shuffled"}
    assert set(rows["verdict"]) == {st.HOLDS}
    assert set(rows.loc[rows["control"] == "untrained", "n"]) == {"6 vs 18"}  # independent untrained networks
    assert set(rows.loc[rows["control"] == "shuffled", "n"]) == {"6 paired"}  # each run's own weights


def test_an_r2_that_permuted_positions_also_reach_is_not_credited_to_a_mapping():
    """In-sample R² grows with the scale of the weights whatever they encode: planted in the trained networks
    and in their permuted-positions control, it beats the untrained networks but not the control."""
    shifts = {("spatial", "ridge_shuffled"): 0.5}
    summary = claims.summarise(claims.evaluate_claims(_tables(shifts=shifts), FAST)).set_index(
        ["comparison", "metric"])
    line = summary.loc[("spatial trained > untrained", "ridge_r2_in_sample")]
    assert (line["verdict"], line["verdict_beyond_controls"], line["changed_by"]) == (
        st.HOLDS, st.NOT_SHOWN, "shuffled")


def test_an_in_sample_r2_does_not_lead_with_holds_where_the_cross_validated_one_does_not():
    """The demo's case: in-sample R² above the untrained networks', cross-validated R² at or below theirs. The
    summary gives the cross-validated verdict and says what changed the in-sample one."""
    tables = _tables()
    ridge = tables["ridge"]
    cv_trained = (ridge["method"] == "cv") & (ridge["network"] == "trained")
    ridge.loc[cv_trained, "r2"] = -0.2 + np.random.default_rng(1).normal(0, 0.05, cv_trained.sum())
    result = claims.evaluate_claims(tables, FAST)
    raw = _rows(result, "Input channels", "spatial trained > untrained", "ridge_r2_in_sample")
    assert raw.loc[raw["control"] == "untrained", "verdict"].item() == st.HOLDS  # the test row itself stands
    summary = claims.summarise(result).set_index(["comparison", "metric"])
    line = summary.loc[("spatial trained > untrained", "ridge_r2_in_sample")]
    assert line["verdict"] != st.HOLDS and line["verdict_beyond_controls"] != st.HOLDS
    assert line["verdict"] == summary.loc[("spatial trained > untrained", "ridge_r2_cv"), "verdict"]
    assert line["changed_by"].startswith("cross-validated R²")


def test_two_roles_naming_one_condition_are_untestable_not_contradicted():
    """A sweep that trains only spatial networks may name one condition for Fig. 4's spatial and non-spatial roles:
    comparing a condition with itself decides nothing, so every such comparison is untestable, with the reason."""
    same = claims.ClaimsSettings(hidden=HIDDEN, roles=claims.Roles(architecture_spatial="spatial",
                                                                     architecture_non_spatial="spatial",
                                                                     spatial_cost="spatial"),
                                 tests=FAST.tests)
    result = claims.evaluate_claims(_tables(), same)
    for start, comparison in (("... with fewer", "spatial < spatial"),
                              ("Spatial networks are as accurate as non-spatial ones (Fig. 4)",
                               "spatial ≈ spatial (± 2 points)"),
                              ("The distance cost raises modularity", "spatial > spatial")):
        rows = _rows(result, start, comparison)
        assert not rows.empty and set(rows["verdict"]) == {st.UNTESTABLE}, start
        assert rows["note"].str.contains("both sides").all()
    table1 = _rows(result, "Spatial networks are as accurate as non-spatial ones (Table 1)",
                   "spatial ≈ synaptic (± 2 points)")
    assert table1["verdict"].iloc[0] != st.UNTESTABLE  # different conditions are still compared

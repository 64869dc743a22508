"""Table 1: every number recomputed from the per-seed rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from spacetime_snn.errors import DataError
from spacetime_snn.figures import table1


def test_mean_sd_and_seed_count_match_the_per_seed_rows(tables, all_labels):
    accuracy = tables["accuracy"]
    table = table1.table1(accuracy, all_labels)
    assert list(table.columns) == table1.COLUMNS
    assert len(table) == accuracy.groupby(["condition", "hidden"]).ngroups
    for row in table.itertuples(index=False):
        seeds = accuracy[(accuracy["condition"] == row.condition) & (accuracy["hidden"] == row.hidden)]
        values = 100 * seeds["test_accuracy"].to_numpy()
        assert row.n_seeds == len(values) == 3
        assert row.test_accuracy_mean_pct == pytest.approx(values.mean(), abs=1e-12)
        assert row.test_accuracy_sd_pct == pytest.approx(values.std(ddof=1), abs=1e-12)
        assert row.label == all_labels[row.condition]
        # The 95 % t-interval of the mean: mean ± t(0.975, 2) · sd / √3, t = 4.303 (a table value).
        half = 4.302653 * values.std(ddof=1) / np.sqrt(3)
        assert row.test_accuracy_ci_low_pct == pytest.approx(values.mean() - half, abs=1e-4)
        assert row.test_accuracy_ci_high_pct == pytest.approx(values.mean() + half, abs=1e-4)


def test_rows_follow_the_label_order_and_only_shown_conditions(tables):
    labels = {"none": "No delays", "spatial": "Spatial"}
    table = table1.table1(tables["accuracy"], labels)
    assert table["condition"].tolist() == ["none"] * 3 + ["spatial"] * 3
    assert table["hidden"].tolist() == [32, 64, 128] * 2


def test_markdown_shows_percentages_with_one_decimal(tables, tmp_path):
    table = table1.table1(tables["accuracy"], {"spatial": "Spatial"})
    csv, markdown = tmp_path / "table1.csv", tmp_path / "table1.md"
    table1.write_table1(table, csv, markdown)
    text = markdown.read_text()
    first = table.iloc[0]
    assert f"| Spatial | 32 | {first.trainable_params:,} | " \
           f"{first.test_accuracy_mean_pct:.1f} ± {first.test_accuracy_sd_pct:.1f} | " \
           f"[{first.test_accuracy_ci_low_pct:.1f}, {first.test_accuracy_ci_high_pct:.1f}] | 3 |" in text
    assert text.startswith("| Condition |")
    pd.testing.assert_frame_equal(pd.read_csv(csv, dtype={"group": str}).fillna({"group": ""}), table,
                                  check_dtype=False)


def test_a_single_seed_has_no_spread(tables):
    one = tables["accuracy"].query("seed == 0")
    table = table1.table1(one, {"spatial": "Spatial"})
    assert table["n_seeds"].eq(1).all() and table["test_accuracy_sd_pct"].isna().all()
    assert table["test_accuracy_ci_low_pct"].isna().all()
    assert "±" not in table1.to_markdown(table).split("\n\n")[0]


def test_unknown_conditions_and_missing_columns_are_clear_errors(tables):
    with pytest.raises(DataError, match="no rows for conditions"):
        table1.table1(tables["accuracy"], {"nonexistent": "X"})
    with pytest.raises(DataError, match=r"accuracy\.csv.*'test_accuracy'"):
        table1.table1(tables["accuracy"].drop(columns="test_accuracy"))


def test_without_labels_every_condition_appears_sorted(tables):
    table = table1.table1(tables["accuracy"])
    assert table["condition"].unique().tolist() == sorted(np.unique(tables["accuracy"]["condition"]))


def test_two_seeds_get_no_interval(tables):
    """A percentile bootstrap of 2 runs only spans them (narrower than ± 1 sd): below 3 seeds, no interval."""
    two = tables["accuracy"].query("seed != 0")
    table = table1.table1(two, {"spatial": "Spatial"})
    assert table["n_seeds"].eq(2).all() and table["test_accuracy_sd_pct"].notna().all()
    assert table["test_accuracy_ci_low_pct"].isna().all() and table["test_accuracy_ci_high_pct"].isna().all()
    text = table1.to_markdown(table)
    assert "| — | 2 |" in text and "given from 3 seeds on" in text


def test_rows_of_the_main_grid_come_first_and_the_groups_are_named(tables):
    labels = {"synaptic": "Non-spatial", "spatial": "Spatial", "none": "No delays"}
    table = table1.table1(tables["accuracy"], labels, {"conditions": ["synaptic", "spatial"], "hidden": 64})
    main = table[table["group"] == table1.MAIN]
    assert list(zip(main["condition"], main["hidden"])) == [("synaptic", 64), ("spatial", 64)]
    assert table.index[table["group"] == table1.MAIN].max() < table.index[table["group"] == table1.ARCHITECTURE].min()
    assert ("spatial", 32) in set(zip(table["condition"], table["hidden"]))  # in Fig. 4's group
    text = table1.to_markdown(table)
    first, second = (f"| **{table1.GROUP_TITLES[g]}** |" for g in (table1.MAIN, table1.ARCHITECTURE))
    assert text.index(first) < text.index("| Non-spatial | 64 |") < text.index(second)
    assert "under different names" in text

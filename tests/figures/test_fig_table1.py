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
        # The 95 % bootstrap interval of the mean lies within the range of the seeds and around the mean.
        eps = 1e-9  # the mean of a resample that repeats one seed is that seed, up to rounding
        assert values.min() - eps <= row.test_accuracy_ci_low_pct <= row.test_accuracy_mean_pct
        assert row.test_accuracy_mean_pct <= row.test_accuracy_ci_high_pct <= values.max() + eps


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
    pd.testing.assert_frame_equal(pd.read_csv(csv), table, check_dtype=False)


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

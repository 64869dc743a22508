"""CLI round trip: per-run CSVs and summaries -> `aggregate` -> `figure fig1..fig4` and `table`."""

from __future__ import annotations

import argparse
import json

import pandas as pd
import pytest

from spacetime_snn.errors import ConfigError, DataError, SpacetimeError
from spacetime_snn.figures import commands
from spacetime_snn.figures.aggregate import ACCURACY_COLUMNS, IDENTIFIERS, RUN_RECORD_COLUMNS

LABELS = json.dumps({"synaptic": "Non-spatial", "spatial": "Spatial", "spatial_cost": "Spatial + cost",
                     "spatial_3d": "Spatial 3D", "spatial_4d": "Spatial 4D", "axonal": "Axonal delays",
                     "none": "No delays"})
MAIN = ["synaptic", "spatial", "spatial_cost"]


def run(argv: list[str]) -> None:
    """What `spacetime-snn` does with these sub-commands (cli.py also registers other areas)."""
    parser = argparse.ArgumentParser(prog="spacetime-snn")
    commands.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args([str(a) for a in argv])
    args.func(args)


def _run_dir(root, row) -> object:
    return root / "runs" / row["condition"] / f"h{row['hidden']}" / f"s{row['seed']}"


@pytest.fixture(scope="module")
def study(tables, tmp_path_factory):
    """A results/<study> tree: per-run analysis CSVs and summary.json files, aggregated through the CLI."""
    root = tmp_path_factory.mktemp("results") / "shd"
    for name, frame in tables.items():
        if name == "accuracy":
            continue
        inputs = []
        for _, run_rows in frame.groupby(list(IDENTIFIERS)):
            path = _run_dir(root, run_rows.iloc[0]) / "analysis" / f"{name}.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            run_rows.to_csv(path, index=False)
            inputs.append(path)
        run(["aggregate", "--out", root / "aggregated" / f"{name}.csv", *inputs])
    summaries = []
    for _, row in tables["accuracy"].iterrows():
        path = _run_dir(root, row) / "summary.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({**row.to_dict(), "extra": "ignored"}, default=int))
        summaries.append(path)
    run(["aggregate", "--from-summaries", "--out", root / "aggregated" / "accuracy.csv", *summaries])
    return root


def test_aggregated_tables_match_the_per_run_rows(study, tables):
    for name, frame in tables.items():
        aggregated = pd.read_csv(study / "aggregated" / f"{name}.csv")
        assert len(aggregated) == len(frame), name
        extra = set(RUN_RECORD_COLUMNS) if name == "accuracy" else set()  # empty: the fake summaries predate them
        assert set(aggregated.columns) == set(frame.columns) | extra, name
    accuracy = pd.read_csv(study / "aggregated" / "accuracy.csv")
    assert list(accuracy.columns) == [*ACCURACY_COLUMNS, *RUN_RECORD_COLUMNS]
    merged = accuracy.merge(tables["accuracy"], on=list(IDENTIFIERS), suffixes=("", "_expected"))
    assert len(merged) == len(accuracy)
    assert (merged["test_accuracy"] - merged["test_accuracy_expected"]).abs().max() < 1e-12


@pytest.mark.parametrize("figure, extra", [
    ("fig1", ["--condition", "spatial_cost", "--show", *MAIN]),
    ("fig2", ["--without-cost", "spatial", "--with-cost", "spatial_cost", "--show", *MAIN, "--max-edges", 200]),
    ("fig3", ["--show", *MAIN, "--hidden", 128]),
    ("fig4", []),
])
def test_figure_commands_write_pdf_and_png(study, figure, extra):
    out = study / "figures" / f"{figure}.pdf"
    run(["figure", figure, "--data-dir", study / "aggregated", "--out", out, "--labels", LABELS, *extra])
    assert out.stat().st_size > 5_000
    assert out.with_suffix(".png").stat().st_size > 30_000


def test_claims_command_writes_csv_markdown_and_rst(study, tmp_path):
    docutils = pytest.importorskip("docutils.core")
    out, markdown, rst = tmp_path / "claims.csv", tmp_path / "claims.md", tmp_path / "claims.rst"
    run(["claims", "--data-dir", study / "aggregated", "--study", "shd", "--hidden", 128, "--out", out,
         "--markdown", markdown, "--rst", rst, "--mapped", "spatial", "spatial_cost", "--resamples", 200,
         "--permutations", 500, "--binary-keep-fraction", 0.1, "--labels", LABELS])
    claims = pd.read_csv(out)
    assert list(claims.columns)[:9] == ["claim", "comparison", "metric", "effect", "ci_low", "ci_high", "p_value",
                                        "n", "verdict"]
    assert set(claims["verdict"]) <= {"holds", "not shown", "contradicted", "untestable"}
    text = markdown.read_text()
    assert "**Verdict rule.**" in text and "## Summary" in text and "## Every test" in text
    assert "strongest 10 % of \\|W\\|, binary" in text  # sigma names its graph
    guide = text[:text.index("**Verdict rule.**")]
    assert "**untestable**" in guide and "0.167 for 2 against 2" in guide and "Changed by:" in guide
    assert "Spatial + cost (`spatial_cost`)" in guide  # one name per condition, as in the figures
    assert "| spatial_cost > spatial |" not in text and "Spatial + cost > Spatial" in text
    assert "| smallest p |" in text and set(claims["comparison"]) >= {"spatial_cost > spatial"}  # csv: config names
    html = docutils.publish_parts(rst.read_text(), writer="html",
                                  settings_overrides={"report_level": 2, "halt_level": 2})["html_body"]
    assert "Which claims hold" in html and "<table" in html


def test_claims_command_names_stale_per_run_files(study, tmp_path):
    stale = tmp_path / "aggregated"
    stale.mkdir()
    for path in (study / "aggregated").iterdir():
        frame = pd.read_csv(path)
        if path.stem == "ridge":
            frame.loc[frame.index[:4], "method"] = None  # rows of a run written before the column existed
        frame.to_csv(stale / path.name, index=False)
    with pytest.raises(DataError, match=r"ridge\.csv.*no 'method'.*--forcerun inputmaps"):
        run(["claims", "--data-dir", stale, "--study", "shd", "--hidden", 128, "--out", tmp_path / "c.csv",
             "--markdown", tmp_path / "c.md"])


def test_table_command_writes_csv_and_markdown(study, tmp_path):
    labels = tmp_path / "labels.json"
    labels.write_text(LABELS)
    out, markdown = study / "tables" / "table1.csv", study / "tables" / "table1.md"
    run(["table", "--accuracy", study / "aggregated" / "accuracy.csv", "--out", out, "--markdown", markdown,
         "--labels", labels])
    table = pd.read_csv(out)
    assert table["condition"].iloc[0] == "synaptic" and len(table) == 18
    assert "| Non-spatial | 32 |" in markdown.read_text()


@pytest.mark.parametrize("argv, error, message", [
    (["figure", "fig4", "--labels", "{not json"], ConfigError, "not valid JSON"),
    (["figure", "fig4", "--labels", "[]"], ConfigError, "non-empty JSON object"),
    (["figure", "fig3", "--labels", LABELS, "--show", "mystery"], ConfigError, "mystery"),
    (["figure", "fig3", "--labels", LABELS, "--dt-ms", "0"], ConfigError, "--dt-ms"),
])
def test_user_errors_are_spacetime_errors(study, tmp_path, argv, error, message):
    with pytest.raises(error, match=message):
        run([*argv[:2], "--data-dir", study / "aggregated", "--out", tmp_path / "x.pdf", *argv[2:]])


def test_missing_table_names_file_and_producer(tmp_path):
    with pytest.raises(DataError, match=r"pruning\.csv not found.*spacetime-snn prune"):
        run(["figure", "fig3", "--data-dir", tmp_path, "--out", tmp_path / "fig3.pdf", "--labels", LABELS])
    with pytest.raises(SpacetimeError, match="no input CSV"):
        run(["aggregate", "--out", tmp_path / "x.csv"])
    assert not (tmp_path / "x.csv").exists()

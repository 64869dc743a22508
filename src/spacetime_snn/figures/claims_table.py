"""claims.md (and claims.rst, which the HTML report shows first): the claims report rendered for a reader.

The numbers come from analysis/claims.py (one row per tested comparison) and its summary; this module only lays
them out: the rule that decided each verdict, what each control is, a summary of what the controls change, then
every test.
"""

from __future__ import annotations

import math
import os

import pandas as pd

from ..analysis import statistics as st
from ..analysis.claims import CONTROL_NOTES, SUMMARY_RULE, ClaimsSettings
from ..io_utils import atomic_path
from .aggregate import write_csv


def _number(value: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if value == 0:
        return "0"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"


def _interval(row) -> str:
    if math.isnan(row.ci_low):
        return "—"
    return f"[{_number(row.ci_low)}, {_number(row.ci_high)}]"


def _p(value: float) -> str:
    if math.isnan(value):
        return "—"
    return f"{value:.3f}" if value >= 0.001 else f"{value:.1e}"


def _metric(row) -> str:
    return f"{row.metric} ({row.graph})" if isinstance(row.graph, str) and row.graph else row.metric


def _text(value) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def _preamble(settings: ClaimsSettings, study: str) -> list[str]:
    tests = settings.tests
    testing = (f"alpha = {tests.alpha:g}; intervals: {100 * tests.level:g} % percentile bootstrap over runs "
               f"({tests.resamples:,} resamples, runs resampled within each condition); p-values: permutation "
               f"tests of the mean difference, exact up to {tests.max_exact:,} rearrangements, else "
               f"{tests.permutations:,} random ones; one-sided in the claimed direction.")
    return [f"Claims of the paper tested on the runs of study `{study}` (hidden size {settings.hidden} for every "
            f"network metric).", "", f"**Verdict rule.** {st.VERDICT_RULE}", "", f"**Tests.** {testing}", "",
            f"**Controls.** {SUMMARY_RULE}"]


def _control_lines() -> list[str]:
    return [f"- `{name}`: {text}" for name, text in CONTROL_NOTES.items()]


def _summary_cells(summary: pd.DataFrame) -> list[list[str]]:
    return [[row.claim, row.comparison, row.metric, row.verdict, row.verdict_beyond_controls,
             row.changed_by or "—"] for row in summary.itertuples(index=False)]


def _test_cells(claims: pd.DataFrame) -> list[list[str]]:
    return [[row.claim, row.comparison, row.control, _metric(row), _number(row.effect), _interval(row),
             _p(row.p_value), row.n, row.verdict, _text(row.runs), _text(row.note)]
            for row in claims.itertuples(index=False)]


SUMMARY_HEADER = ["Claim", "Comparison", "Metric", "Trained networks", "Beyond controls", "Changed by"]
TEST_HEADER = ["Claim", "Comparison", "Control", "Metric (graph)", "Effect", "95 % CI", "p", "n", "Verdict",
               "Runs", "Note"]


def _markdown_table(header: list[str], cells: list[list[str]]) -> list[str]:
    def line(values):
        return "| " + " | ".join(str(v).replace("|", r"\|").replace("\n", " ") for v in values) + " |"

    return [line(header), "|" + "|".join("---" for _ in header) + "|", *(line(row) for row in cells)]


def to_markdown(claims: pd.DataFrame, summary: pd.DataFrame, settings: ClaimsSettings, study: str) -> str:
    lines = ["# Which claims hold", "", *_preamble(settings, study), "", *_control_lines(), "",
             "## Summary: each comparison on the trained networks and beyond its controls", "",
             *_markdown_table(SUMMARY_HEADER, _summary_cells(summary)), "",
             "## Every test", "",
             "Effect: mean of the first condition minus mean of the second (for a control: of the per-run "
             "excesses over the control), in the metric's units.", "",
             *_markdown_table(TEST_HEADER, _test_cells(claims))]
    return "\n".join(lines) + "\n"


def _rst_text(value: str) -> str:
    """Inline text safe in an RST table cell (markdown bold and backticks become RST's)."""
    return str(value).replace("**", "").replace("`", "``").replace("*", r"\*").replace("|", r"\|") or " "


def _rst_table(title: str, header: list[str], cells: list[list[str]]) -> list[str]:
    lines = [f".. list-table:: {title}", "   :header-rows: 1", ""]
    for row in [header, *cells]:
        lines.append(f"   * - {_rst_text(row[0])}")
        lines += [f"     - {_rst_text(cell)}" for cell in row[1:]]
    return lines


def to_rst(claims: pd.DataFrame, summary: pd.DataFrame, settings: ClaimsSettings, study: str) -> str:
    """The same report as reStructuredText, for the HTML report's front page (workflow/report/workflow.rst)."""
    paragraphs = [_rst_text(line) for line in _preamble(settings, study) if line]
    lines = ["Which claims hold", "-----------------", ""]
    for paragraph in paragraphs:
        lines += [paragraph, ""]
    lines += [_rst_text(line) for line in _control_lines()] + [""]
    lines += _rst_table("Each comparison on the trained networks and beyond its controls", SUMMARY_HEADER,
                        _summary_cells(summary)) + [""]
    lines += _rst_table("Every test (effect: first minus second condition; for a control, of the per-run excesses)",
                        TEST_HEADER, _test_cells(claims))
    return "\n".join(lines) + "\n"


def write_claims(claims: pd.DataFrame, summary: pd.DataFrame, settings: ClaimsSettings, study: str,
                 csv_path: str | os.PathLike, markdown_path: str | os.PathLike,
                 rst_path: str | os.PathLike | None = None) -> None:
    """claims.csv, claims.md and (optionally) claims.rst, each written atomically."""
    write_csv(claims, csv_path)
    with atomic_path(markdown_path) as tmp:
        tmp.write_text(to_markdown(claims, summary, settings, study), encoding="utf-8")
    if rst_path is not None:
        with atomic_path(rst_path) as tmp:
            tmp.write_text(to_rst(claims, summary, settings, study), encoding="utf-8")

"""claims.md (and claims.rst, which the HTML report shows first): the claims report rendered for a reader.

The numbers come from analysis/claims.py (one row per tested comparison) and its summary; this module only lays
them out: the rule that decided each verdict, what each control is, a summary of what the controls change, then
every test.
"""

from __future__ import annotations

import math
import os
import re
from typing import Mapping

import pandas as pd

from ..analysis import statistics as st
from ..analysis.claims import CHANGED_BY_RULE, CONTROL_NOTES, SUMMARY_RULE, ClaimsSettings
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


def _smallest_p(n: str, settings: ClaimsSettings) -> float:
    """The smallest one-sided p the permutation test can give with the n of a row ("3 vs 3", "5 paired")."""
    options = {"max_exact": settings.tests.max_exact, "permutations": settings.tests.permutations}
    groups = re.fullmatch(r"(\d+) vs (\d+)", str(n))
    if groups:
        return st.attainable_p(int(groups[1]), int(groups[2]), **options)
    paired = re.fullmatch(r"(\d+) paired", str(n))
    return st.attainable_p(int(paired[1]), **options) if paired else math.nan


def _reading_guide(settings: ClaimsSettings) -> str:
    alpha = settings.tests.alpha
    two, three, five = (st.attainable_p(k, k) for k in (2, 3, 5))
    return (f"**How to read this.** Each claim of the paper's figure captions is a comparison between two conditions "
            f"(or between trained networks and a control) on one metric, tested on this study's runs. Verdicts: "
            f"**holds** (the effect has the claimed sign, its interval excludes 0 and p <= {alpha:g}), **not shown**, "
            f"**contradicted** (all three in the opposite direction), and **untestable**: the study does not train "
            f"what the claim needs, or it has too few runs for the test to reach p <= {alpha:g} whatever the data. "
            f"A permutation test of k runs against k can give at best p = 1 / C(2k, k): {two:.3g} for 2 against 2, "
            f"{three:.3g} for 3 against 3, {five:.2g} for 5 against 5; so a study of 2 seeds per condition (the "
            f"demo) tests none of its comparisons between conditions, by design; 5 seeds "
            f"(`configs/demo_claims.yaml`) test them. The column \"smallest p\" gives this bound for every test. "
            f"{CHANGED_BY_RULE}")


def _condition_line(labels: Mapping[str, str] | None) -> list[str]:
    if not labels:
        return []
    names = "; ".join(f"{label} (`{name}`)" for name, label in labels.items())
    return ["", f"**Conditions** as named in the figures and Table 1 (config name in brackets): {names}."]


def _preamble(settings: ClaimsSettings, study: str, labels: Mapping[str, str] | None = None) -> list[str]:
    tests = settings.tests
    testing = (f"alpha = {tests.alpha:g}; intervals: {100 * tests.level:g} % percentile bootstrap over runs "
               f"({tests.resamples:,} resamples, runs resampled within each condition); p-values: permutation "
               f"tests of the mean difference, exact up to {tests.max_exact:,} rearrangements, else "
               f"{tests.permutations:,} random ones; one-sided in the claimed direction.")
    return [f"Claims of the paper tested on the runs of study `{study}` (hidden size {settings.hidden} for every "
            f"network metric).", "", _reading_guide(settings), *_condition_line(labels), "",
            f"**Verdict rule.** {st.VERDICT_RULE}", "", f"**Tests.** {testing}", "",
            f"**Controls.** {SUMMARY_RULE}"]


def _labelled(text: str, labels: Mapping[str, str] | None) -> str:
    """A comparison with the conditions' display names ("spatial_cost > spatial" -> "Spatial + distance cost >
    Spatial"); whole names only, the longest first."""
    if not labels:
        return text
    pattern = r"(?<![\w-])(" + "|".join(re.escape(n) for n in sorted(labels, key=len, reverse=True)) + r")(?![\w-])"
    return re.sub(pattern, lambda match: labels[match.group(1)], str(text))


def _control_lines() -> list[str]:
    return [f"- `{name}`: {text}" for name, text in CONTROL_NOTES.items()]


def _summary_cells(summary: pd.DataFrame, labels: Mapping[str, str] | None = None) -> list[list[str]]:
    return [[row.claim, _labelled(row.comparison, labels), row.metric, row.verdict, row.verdict_beyond_controls,
             row.changed_by or "—"] for row in summary.itertuples(index=False)]


def _test_cells(claims: pd.DataFrame, settings: ClaimsSettings,
                labels: Mapping[str, str] | None = None) -> list[list[str]]:
    return [[row.claim, _labelled(row.comparison, labels), row.control, _metric(row), _number(row.effect),
             _interval(row), _p(row.p_value), _p(_smallest_p(row.n, settings)) if not math.isnan(row.p_value)
             or row.verdict == st.UNTESTABLE else "—", row.n, row.verdict, _text(row.runs), _text(row.note)]
            for row in claims.itertuples(index=False)]


SUMMARY_HEADER = ["Claim", "Comparison", "Metric", "Trained networks", "Beyond controls", "Changed by"]
TEST_HEADER = ["Claim", "Comparison", "Control", "Metric (graph)", "Effect", "95 % CI", "p", "smallest p", "n",
               "Verdict", "Runs", "Note"]


def _markdown_table(header: list[str], cells: list[list[str]]) -> list[str]:
    def line(values):
        return "| " + " | ".join(str(v).replace("|", r"\|").replace("\n", " ") for v in values) + " |"

    return [line(header), "|" + "|".join("---" for _ in header) + "|", *(line(row) for row in cells)]


def to_markdown(claims: pd.DataFrame, summary: pd.DataFrame, settings: ClaimsSettings, study: str,
                labels: Mapping[str, str] | None = None) -> str:
    lines = ["# Which claims hold", "", *_preamble(settings, study, labels), "", *_control_lines(), "",
             "## Summary: each comparison on the trained networks and beyond its controls", "",
             *_markdown_table(SUMMARY_HEADER, _summary_cells(summary, labels)), "",
             "## Every test", "",
             "Effect: mean of the first condition minus mean of the second (for a control: of the per-run "
             "excesses over the control), in the metric's units.", "",
             *_markdown_table(TEST_HEADER, _test_cells(claims, settings, labels))]
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


def to_rst(claims: pd.DataFrame, summary: pd.DataFrame, settings: ClaimsSettings, study: str,
           labels: Mapping[str, str] | None = None) -> str:
    """The same report as reStructuredText, for the HTML report's front page (workflow/report/workflow.rst)."""
    paragraphs = [_rst_text(line) for line in _preamble(settings, study, labels) if line]
    lines = ["Which claims hold", "-----------------", ""]
    for paragraph in paragraphs:
        lines += [paragraph, ""]
    lines += [_rst_text(line) for line in _control_lines()] + [""]
    lines += _rst_table("Each comparison on the trained networks and beyond its controls", SUMMARY_HEADER,
                        _summary_cells(summary)) + [""]
    lines += _rst_table("Every test (effect: first minus second condition; for a control, of the per-run excesses)",
                        TEST_HEADER, _test_cells(claims, settings, labels))
    return "\n".join(lines) + "\n"


def write_claims(claims: pd.DataFrame, summary: pd.DataFrame, settings: ClaimsSettings, study: str,
                 csv_path: str | os.PathLike, markdown_path: str | os.PathLike,
                 rst_path: str | os.PathLike | None = None, labels: Mapping[str, str] | None = None) -> None:
    """claims.csv (config names), claims.md and (optionally) claims.rst (display names, `labels`), each written
    atomically."""
    write_csv(claims, csv_path)
    with atomic_path(markdown_path) as tmp:
        tmp.write_text(to_markdown(claims, summary, settings, study, labels), encoding="utf-8")
    if rst_path is not None:
        with atomic_path(rst_path) as tmp:
            tmp.write_text(to_rst(claims, summary, settings, study, labels), encoding="utf-8")

"""CLI: `aggregate` (per-run CSVs or summaries -> one table), `figure fig1..fig4`, `table` (Table 1), `claims`
(claims.csv, claims.md and claims.rst: which claims of the paper the study's runs support), `results-page` (the
study's results.md) and `publish-results` (a finished page with its figures, into a folder to commit).

Colours follow the order of the conditions in `--labels`, so giving every figure command the study's full
label mapping (and `--show` for a subset) keeps one colour per condition across figures.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import ConfigError
from . import aggregate, claims_table, fig1, fig2, fig3, fig4, table1
from .style import condition_colors, save_figure


def _labels(text: str) -> dict[str, str]:
    """`--labels` as inline JSON or a path to a JSON file: {"condition": "Display label", ...} in display order."""
    source = Path(text).read_text() if text.endswith(".json") and Path(text).is_file() else text
    try:
        labels = json.loads(source)
    except json.JSONDecodeError as error:
        raise ConfigError(f"--labels: not valid JSON ({error}); expected e.g. "
                          '\'{"synaptic": "Non-spatial", "spatial": "Spatial"}\'.') from error
    if not isinstance(labels, dict) or not labels or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in labels.items()):
        raise ConfigError("--labels: expected a non-empty JSON object mapping condition names to display labels.")
    return labels


def _shown(args: argparse.Namespace) -> tuple[dict[str, str], dict[str, str]]:
    """(labels of the conditions to show, colours from the full mapping)."""
    labels = _labels(args.labels)
    colors = condition_colors(list(labels))
    show = getattr(args, "show", None) or list(labels)
    unknown = [condition for condition in show if condition not in labels]
    if unknown:
        raise ConfigError(f"--show: condition(s) {unknown} have no entry in --labels {list(labels)}.")
    return {condition: labels[condition] for condition in show}, colors


def _run_aggregate(args: argparse.Namespace) -> None:
    if args.from_summaries:
        frame = aggregate.accuracy_from_summaries(args.inputs)
    else:
        frame = aggregate.concatenate_csvs(args.inputs)
    aggregate.write_csv(frame, args.out)
    print(f"wrote {args.out} ({len(frame)} rows from {len(args.inputs)} files)")


def _run_figure(args: argparse.Namespace) -> None:
    labels, colors = _shown(args)
    if args.dt_ms <= 0:
        raise ConfigError(f"--dt-ms must be positive, got {args.dt_ms}.")
    if getattr(args, "max_edges", 1) < 1:
        raise ConfigError(f"--max-edges must be at least 1, got {args.max_edges}.")

    def read(name: str, required: bool = True):
        return aggregate.read_table(args.data_dir, name, required=required)

    common = {"labels": labels, "colors": colors}
    if args.figure == "fig1":
        figure = fig1.figure1(read("input_raster"), read("input_maps"), read("input_maps_time"), read("ridge"),
                              condition=args.condition, hidden=args.hidden, seed=args.seed,
                              network_nodes=read("network_nodes", required=False), dt_ms=args.dt_ms, **common)
    elif args.figure == "fig2":
        figure = fig2.figure2(read("network_nodes"), read("network_edges"), read("training_dynamics"),
                              without_cost=args.without_cost, with_cost=args.with_cost, hidden=args.hidden,
                              seed=args.seed, max_edges=args.max_edges, dt_ms=args.dt_ms,
                              control_metrics=read("control_metrics", required=False),
                              binary_keep_fraction=args.binary_keep_fraction,
                              self_connections=args.self_connections, **common)
    elif args.figure == "fig3":
        figure = fig3.figure3(read("pruning"), read("delay_histogram"), read("pruned_graph"), hidden=args.hidden,
                              dt_ms=args.dt_ms, histogram_scale=args.histogram_scale,
                              histogram_bins=args.histogram_bins, self_connections=args.self_connections,
                              final_metrics=read("final_metrics", required=False), clamp_steps=args.clamp_steps,
                              **common)
    else:
        figure = fig4.figure4(read("accuracy"), **common)
    for path in save_figure(figure, args.out):
        print(f"wrote {path}")


def _run_table(args: argparse.Namespace) -> None:
    accuracy = aggregate.read_csv(args.accuracy)
    labels = _labels(args.labels) if args.labels else None
    main = json.loads(args.main) if args.main else None
    table = table1.table1(accuracy, labels, main)
    table1.write_table1(table, args.out, args.markdown)
    print(f"wrote {args.out} and {args.markdown}")


def _run_claims(args: argparse.Namespace) -> None:
    from ..analysis import claims, statistics

    tables = {name: aggregate.read_table(args.data_dir, name) for name in claims.TABLES}
    for name, column in claims.TABLE_COLUMNS.items():
        aggregate.require_columns(tables[name], f"{name}.csv", column)
        aggregate.require_filled(tables[name], f"{name}.csv", column[0])
    try:
        tests = statistics.TestSettings(alpha=args.alpha, resamples=args.resamples, max_exact=args.max_exact,
                                        permutations=args.permutations, seed=args.seed)
        roles = claims.Roles(non_spatial=args.non_spatial, spatial=args.spatial, spatial_cost=args.spatial_cost,
                             no_delays=args.no_delays, architecture_spatial=args.architecture_spatial,
                             architecture_non_spatial=args.architecture_non_spatial)
        settings = claims.ClaimsSettings(hidden=args.hidden, roles=roles, mapped=tuple(args.mapped or ()),
                                         accuracy_margin_pct=args.accuracy_margin_pct,
                                         binary_keep_fraction=args.binary_keep_fraction, tests=tests)
    except ValueError as error:
        raise ConfigError(f"claims: {error}") from error
    tested = claims.evaluate_claims(tables, settings)
    summary = claims.summarise(tested)
    labels = _labels(args.labels) if args.labels else None
    claims_table.write_claims(tested, summary, settings, args.study, args.out, args.markdown, args.rst, labels)
    counts = tested["verdict"].value_counts().to_dict()
    print(f"wrote {args.out}, {args.markdown}" + (f", {args.rst}" if args.rst else "") + f": {len(tested)} tests "
          + ", ".join(f"{count} {verdict}" for verdict, count in counts.items()))


def _run_results_page(args: argparse.Namespace) -> None:
    from . import results_page

    labels = _labels(args.labels) if args.labels else None
    text = results_page.render(args.results_dir, args.study, labels, benchmarks_dir=args.benchmarks,
                               commit=results_page.commit_of(args.repo))
    results_page.write_page(text, args.out)
    print(f"wrote {args.out}")


def _run_publish_results(args: argparse.Namespace) -> None:
    from . import results_page

    for path in results_page.publish(args.page, args.to):
        print(f"wrote {path}")


def _claims_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", required=True, help="results/<study>/aggregated")
    parser.add_argument("--study", required=True, help="study name, for the report's title")
    parser.add_argument("--hidden", required=True, type=int, help="hidden size of the main grid")
    parser.add_argument("--out", required=True, help="claims.csv to write")
    parser.add_argument("--markdown", required=True, help="claims.md to write")
    parser.add_argument("--rst", help="claims.rst to write (the HTML report's front page includes it)")
    parser.add_argument("--mapped", nargs="*", metavar="CONDITION", help="conditions with ridge R² (Fig. 1E)")
    parser.add_argument("--non-spatial", default="synaptic", help="condition of the non-spatial networks")
    parser.add_argument("--spatial", default="spatial", help="condition of the spatial networks")
    parser.add_argument("--spatial-cost", default="spatial_cost", help="condition with the distance cost")
    parser.add_argument("--no-delays", default="none", help="condition without delays")
    parser.add_argument("--architecture-spatial", default="spatial2d",
                        help="spatial condition of the architecture grid (Fig. 4)")
    parser.add_argument("--architecture-non-spatial", default="nonspatial",
                        help="non-spatial condition of the architecture grid (Fig. 4)")
    parser.add_argument("--accuracy-margin-pct", type=float, default=2.0,
                        help="'as accurate as' = within this many percentage points [2]")
    parser.add_argument("--binary-keep-fraction", type=float, default=None,
                        help="the binary graph of sigma (named in the report; metrics' own option)")
    parser.add_argument("--alpha", type=float, default=0.05, help="significance level [0.05]")
    parser.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples [2000]")
    parser.add_argument("--max-exact", type=int, default=20000,
                        help="enumerate every rearrangement up to this many [20000]")
    parser.add_argument("--permutations", type=int, default=10000, help="random rearrangements beyond [10000]")
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap and Monte Carlo draws")


def _figure_parsers(figure: argparse.ArgumentParser) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", required=True, help="results/<study>/aggregated")
    common.add_argument("--out", required=True, help="PDF path; a PNG is written beside it")
    common.add_argument("--labels", required=True,
                        help="JSON object (or .json file) condition -> display label; its order sets the colours")
    common.add_argument("--show", nargs="+", metavar="CONDITION",
                        help="conditions to show, in this order (default: all in --labels)")
    common.add_argument("--dt-ms", type=float, default=1.0, help="ms per time step (distance unit) [1.0]")
    sized = argparse.ArgumentParser(add_help=False)
    sized.add_argument("--hidden", type=int, help="hidden size to show (needed if the tables hold several)")
    example = argparse.ArgumentParser(add_help=False)
    example.add_argument("--seed", type=int, help="seed of the example run (default: smallest present)")

    which = figure.add_subparsers(dest="figure", required=True)
    one = which.add_parser("fig1", parents=[common, sized, example], help="input maps and ridge R²")
    one.add_argument("--condition", required=True, help="condition of the example run in panels A–D")
    graphs = argparse.ArgumentParser(add_help=False)
    graphs.add_argument("--self-connections", choices=("keep", "exclude"), default="keep",
                        help="whether the metrics kept the diagonal of W (only named on the figure) [keep]")
    two = which.add_parser("fig2", parents=[common, sized, example, graphs],
                           help="network drawings, training dynamics")
    two.add_argument("--without-cost", required=True, help="condition drawn in panel A")
    two.add_argument("--with-cost", required=True, help="condition drawn in panel B")
    two.add_argument("--max-edges", type=int, default=400, help="strongest connections drawn [400]")
    two.add_argument("--binary-keep-fraction", type=float, default=None,
                     help="the binary graph sigma was computed on (only named on the axis) [every edge]")
    three = which.add_parser("fig3", parents=[common, sized, graphs],
                             help="pruning, delay histograms, pruned-graph metrics")
    three.add_argument("--histogram-scale", choices=("linear", "log"), default="linear",
                       help="y axis of the delay histogram (B); linear is the authors' [linear]")
    three.add_argument("--histogram-bins", type=int, default=50,
                       help="about this many equal delay bins from 0 to the longest delay [50]")
    three.add_argument("--clamp-steps", type=float, default=None,
                       help="model.max_delay_steps: marked on B1 with the share of delays held there [unmarked]")
    which.add_parser("fig4", parents=[common], help="accuracy vs trainable parameters")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `aggregate`, `figure` and `table` to the `spacetime-snn` command."""
    agg = subparsers.add_parser("aggregate", help="concatenate per-run CSVs (or summary.json files) into one CSV")
    agg.add_argument("--out", required=True, help="aggregated CSV to write (atomically)")
    agg.add_argument("--from-summaries", action="store_true",
                     help="inputs are summary.json files; write the accuracy table")
    agg.add_argument("inputs", nargs="*", help="per-run CSV files (or summary.json files)")
    agg.set_defaults(func=_run_aggregate)

    figure = subparsers.add_parser("figure", help="draw one paper figure from the aggregated CSVs")
    _figure_parsers(figure)
    figure.set_defaults(func=_run_figure)

    table = subparsers.add_parser("table", help="Table 1 (CSV + Markdown) from accuracy.csv")
    table.add_argument("--accuracy", required=True, help="aggregated accuracy.csv")
    table.add_argument("--out", required=True, help="CSV to write")
    table.add_argument("--markdown", required=True, help="Markdown file to write")
    table.add_argument("--labels", help="JSON object (or .json file) condition -> label; selects and orders rows")
    table.add_argument("--main", help='JSON {"conditions": [...], "hidden": N}: the main grid, whose rows come '
                                     'first; the others are grouped as Fig. 4\'s')
    table.set_defaults(func=_run_table)

    claims = subparsers.add_parser("claims", help="claims.csv / .md / .rst: which claims of the paper hold")
    claims.add_argument("--labels", help="JSON object (or .json file) condition -> display name, used in claims.md "
                                         "and claims.rst (claims.csv keeps the config names)")
    _claims_parser(claims)
    claims.set_defaults(func=_run_claims)

    page = subparsers.add_parser("results-page", help="results/<study>/results.md: Table 1, the claims' verdicts, "
                                 "the figures, delays at the clamp, flagged runs, time, commit and machine")
    page.add_argument("--results-dir", required=True, help="results/<study> (with aggregated/, tables/, figures/)")
    page.add_argument("--study", required=True, help="study name, for the page's title")
    page.add_argument("--out", required=True, help="Markdown file to write (results/<study>/results.md)")
    page.add_argument("--labels", help="JSON object (or .json file) condition -> label; orders the conditions")
    page.add_argument("--benchmarks", help="folder of Snakemake's benchmark files (results/<study>/benchmarks)")
    page.add_argument("--repo", default=".", help="the checkout whose commit the page names [.]")
    page.set_defaults(func=_run_results_page)

    publish = subparsers.add_parser("publish-results", help="copy a finished results.md and the files it links "
                                    "(figures, claims.md) into a folder to commit, e.g. docs/results/<study>")
    publish.add_argument("--page", required=True, help="results/<study>/results.md")
    publish.add_argument("--to", required=True, help="destination folder, e.g. docs/results/<study>")
    publish.set_defaults(func=_run_publish_results)

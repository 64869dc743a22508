"""results/<study>/results.md: one page with a study's results, rendered from the files the pipeline wrote.

Table 1 (tables/table1.md), the verdict of every claim of the paper (tables/claims.csv, summarised as in the claims
report), the four figures (linked PNGs), the share of delays at the clamp and the runs that ended worse than they
started (aggregated/final_metrics.csv, aggregated/accuracy.csv), the study's time (the runs' own clocks and
Snakemake's benchmark files), the commit and the machine. Every number is read from those files or measured when
the page is rendered: none is typed by hand. `publish` copies a finished page with the files it links into a
folder that can be committed (docs/results/<study>/).
"""

from __future__ import annotations

import datetime
import os
import platform
import re
import shutil
import subprocess
from pathlib import Path
from typing import Mapping, Sequence

import pandas as pd

from ..errors import DataError
from ..io_utils import atomic_path
from .aggregate import IDENTIFIERS, read_csv

FIGURES = ("fig1", "fig2", "fig3", "fig4")
FIGURE_TITLES = {"fig1": "Fig. 1: input channels mapped onto neuron positions",
                 "fig2": "Fig. 2: networks and graph metrics over training",
                 "fig3": "Fig. 3: pruning, delay distributions, pruned graphs",
                 "fig4": "Fig. 4: accuracy against trainable parameters"}
# The files of results/<study>/ the page is rendered from (and links to).
TABLE1 = "tables/table1.md"
# train.gradient's values as a reader of the page knows them.
RULE_NAMES = {"eventprop": "EventProp, exact event-based gradients, the authors' rule",
              "surrogate": "surrogate gradient, BPTT with spikes on whole steps"}
CLAIMS = "tables/claims.csv"
CLAIMS_REPORT = "tables/claims.md"
ACCURACY = "aggregated/accuracy.csv"
FINAL_METRICS = "aggregated/final_metrics.csv"
# Rules whose benchmark file sits at benchmarks/<rule>/<condition>/h<hidden>/s<seed>.tsv: one job per run.
_RUN_PATH = re.compile(r"^(?P<condition>[^/]+)/h(?P<hidden>\d+)/s(?P<seed>\d+)$")
_LINK = re.compile(r"\]\(([^)\s]+)\)")


# --- provenance -------------------------------------------------------------------------------------------------

def _git(repo: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def commit_of(repo: str | os.PathLike) -> str:
    """The checkout's commit, with a note if tracked files differ from it; 'unknown' outside a git checkout."""
    commit = _git(Path(repo), "rev-parse", "HEAD")
    if not commit:
        return "unknown"
    changed = _git(Path(repo), "status", "--porcelain", "--untracked-files=no")
    return f"{commit} (with uncommitted changes)" if changed else commit


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, str]:
    """The machine the page is rendered on: OS, CPU and cores, Python, torch with its accelerator, numba."""
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    try:
        import numba
        numba_version = numba.__version__
    except ImportError:
        numba_version = "not installed"
    return {"system": platform.platform(), "cpu": f"{_cpu_model()}, {os.cpu_count()} logical cores",
            "python": platform.python_version(), "torch": f"{torch.__version__} (CUDA device: {gpu})",
            "numba": numba_version}


# --- timing -----------------------------------------------------------------------------------------------------

def read_benchmarks(directory: str | os.PathLike | None) -> pd.DataFrame:
    """Snakemake's benchmark files under `directory` (<rule>/<job>.tsv): rule, job, s, cpu_time, end (the file's
    modification time, i.e. when the job ended). Repeated measurements of one job are summed."""
    columns = ["rule", "job", "s", "cpu_time", "end"]
    if directory is None or not Path(directory).is_dir():
        return pd.DataFrame(columns=columns)
    rows = []
    for path in sorted(Path(directory).rglob("*.tsv")):
        relative = path.relative_to(directory).with_suffix("")
        try:
            table = pd.read_csv(path, sep="\t")
        except (pd.errors.EmptyDataError, pd.errors.ParserError) as error:
            raise DataError(f"{path}: not a readable Snakemake benchmark file ({error}). Fix: delete it; the next "
                            f"run of its job writes it again.") from error
        if not {"s", "cpu_time"} <= set(table.columns):
            raise DataError(f"{path}: a benchmark file needs the columns s and cpu_time, it has "
                            f"{list(table.columns)}. Fix: delete it; the next run of its job writes it again.")
        rows.append({"rule": relative.parts[0], "job": "/".join(relative.parts[1:]),
                     "s": float(pd.to_numeric(table["s"], errors="coerce").sum()),
                     "cpu_time": float(pd.to_numeric(table["cpu_time"], errors="coerce").sum()),
                     "end": path.stat().st_mtime})
    return pd.DataFrame(rows, columns=columns)


def _runs_of(accuracy: pd.DataFrame) -> set[tuple[str, int, int]]:
    return {(str(c), int(h), int(s)) for c, h, s in accuracy[["condition", "hidden", "seed"]].itertuples(index=False)}


def _of_this_study(benchmarks: pd.DataFrame, runs: set[tuple[str, int, int]]) -> pd.DataFrame:
    """Drop the benchmark files of per-run jobs whose run is not in the study (left by an earlier config)."""
    def kept(job: str) -> bool:
        match = _RUN_PATH.match(job)
        return match is None or (match["condition"], int(match["hidden"]), int(match["seed"])) in runs

    return benchmarks[benchmarks["job"].map(kept)] if len(benchmarks) else benchmarks


def timing(accuracy: pd.DataFrame, benchmarks: pd.DataFrame) -> pd.DataFrame:
    """Wall-clock and CPU seconds per rule: rule, jobs, wall_s, cpu_s, source.

    Training comes from the runs' own clocks (accuracy.csv train_seconds, train_cpu_seconds), which count every
    attempt of a resumed run; a run whose summary predates them falls back to its benchmark file. Every other rule
    comes from Snakemake's benchmark files, which hold a job's last attempt."""
    benchmarks = _of_this_study(benchmarks, _runs_of(accuracy))
    rows = []
    clock = accuracy.reindex(columns=[*IDENTIFIERS, "train_seconds", "train_cpu_seconds"])
    timed = clock[clock["train_seconds"].notna()]
    train_bench = benchmarks[benchmarks["rule"] == "train"]
    untimed = {f"{c}/h{int(h)}/s{int(s)}" for c, h, s in
               clock[clock["train_seconds"].isna()][["condition", "hidden", "seed"]].itertuples(index=False)}
    fallback = train_bench[train_bench["job"].isin(untimed)]
    if len(timed) or len(fallback):
        rows.append({"rule": "train", "jobs": len(timed) + len(fallback),
                     "wall_s": float(timed["train_seconds"].sum() + fallback["s"].sum()),
                     "cpu_s": float(timed["train_cpu_seconds"].sum() + fallback["cpu_time"].sum()),
                     "source": "runs' clocks" if not len(fallback) else
                               f"runs' clocks ({len(fallback)} from benchmark files)"})
    for rule, group in benchmarks[benchmarks["rule"] != "train"].groupby("rule", sort=True):
        rows.append({"rule": rule, "jobs": len(group), "wall_s": float(group["s"].sum()),
                     "cpu_s": float(group["cpu_time"].sum()), "source": "benchmark files"})
    return pd.DataFrame(rows, columns=["rule", "jobs", "wall_s", "cpu_s", "source"])


def elapsed(benchmarks: pd.DataFrame) -> float | None:
    """Seconds from the first job's start to the last job's end, from the benchmark files' times (None without
    any); across sessions it includes the pauses between them."""
    if not len(benchmarks):
        return None
    return float(benchmarks["end"].max() - (benchmarks["end"] - benchmarks["s"]).min())


def duration(seconds: float) -> str:
    """12345.6 -> '3:25:46 (3.43 h)'."""
    whole = int(round(seconds))
    text = f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"
    return f"{text} ({seconds / 3600:.2f} h)" if seconds >= 3600 else text


# --- the sections -----------------------------------------------------------------------------------------------

def _cell(value) -> str:
    return str(value).replace("|", r"\|").replace("\n", " ")


def _table(header: Sequence[str], rows: Sequence[Sequence], align: str | None = None) -> list[str]:
    """A Markdown table; `align` gives one character per column ('l' or 'r')."""
    rule = [("---:" if a == "r" else "---") for a in (align or "l" * len(header))]
    return ["| " + " | ".join(map(_cell, header)) + " |", "|" + "|".join(rule) + "|",
            *("| " + " | ".join(map(_cell, row)) + " |" for row in rows)]


def claims_section(claims: pd.DataFrame) -> list[str]:
    """Every comparison of every claim with its verdict on the trained networks and beyond the controls
    (analysis/claims.py summarise), and how many comparisons got each verdict."""
    from ..analysis.claims import SUMMARY_RULE, summarise

    if claims.empty:
        raise DataError(f"{CLAIMS} has no rows: no claim was tested. Fix: rebuild it (`snakemake --forcerun=claims`).")
    summary = summarise(claims)
    counts = summary["verdict_beyond_controls"].value_counts()
    tally = ", ".join(f"{count} {verdict}" for verdict, count in counts.items())
    rows = [[row.claim, row.comparison, row.metric, row.verdict, row.verdict_beyond_controls, row.changed_by or "—"]
            for row in summary.itertuples(index=False)]
    return [f"{len(summary)} comparisons; beyond their controls: {tally}. {SUMMARY_RULE} Every test, with its "
            f"effect, interval, p-value and runs: [claims.md]({CLAIMS_REPORT}).", "",
            *_table(["Claim", "Comparison", "Metric", "Trained networks", "Beyond controls", "Changed by"], rows)]


def _label(labels: Mapping[str, str], condition: str) -> str:
    return labels.get(condition, condition)


def _mean_sd(values: pd.Series, digits: int, scale: float = 1.0, unit: str = "") -> str:
    """'mean ± sd' over runs ('mean' alone for one run, '—' for none)."""
    values = scale * values.dropna()
    if values.empty:
        return "—"
    mean = f"{values.mean():.{digits}f}{unit}"
    return mean if len(values) < 2 else f"{mean} ± {values.std(ddof=1):.{digits}f}"


def _share(values: pd.Series) -> str:
    return _mean_sd(values, 1, scale=100.0, unit=" %")


def clamp_section(final_metrics: pd.DataFrame | None, accuracy: pd.DataFrame, labels: Mapping[str, str]) -> list[str]:
    """Per condition with delays: the share of delays at the clamp of the selected networks (final_metrics, what
    Figs. 2-3 draw) and at the last epoch (the runs' summaries), mean ± sd over seeds, n, and the largest run."""
    if "delay_clamp_share_last" not in accuracy or accuracy["delay_clamp_share_last"].isna().all():
        last = pd.DataFrame(columns=[*IDENTIFIERS, "delay_clamp_share_last"])
    else:
        last = accuracy[[*IDENTIFIERS, "delay_clamp_share_last"]]
    metrics = ("delay_clamp_share", "delay_clamp_max_share")
    selected = pd.DataFrame(columns=[*IDENTIFIERS, *metrics])
    if final_metrics is not None and set(metrics) & set(final_metrics["metric"]):
        chosen = final_metrics[final_metrics["metric"].isin(metrics)]
        selected = (chosen.pivot_table(index=list(IDENTIFIERS), columns="metric", values="value", aggfunc="first")
                    .reindex(columns=list(metrics)).reset_index())
    both = selected.merge(last, on=list(IDENTIFIERS), how="outer").dropna(
        subset=["delay_clamp_share", "delay_clamp_share_last"], how="all")
    intro = ("Share of the recurrent delays between distinct neurons held at the clamp (at 0 or at "
             "model.max_delay_steps; a distance beyond the longest delay gets no gradient at all): mean ± sd over "
             "seeds. Selected network: the model the figures analyse (final_metrics.csv, metrics "
             "`delay_clamp_share` and, at the long end only, `delay_clamp_max_share`: free delays start at 0, where "
             "the paper says non-spatial delays end); last epoch: the end of training (accuracy.csv "
             "`delay_clamp_share_last`; each epoch's value is in the run's log.csv).")
    if both.empty:
        return [intro, "", "No run with delays recorded its delays at the clamp (runs trained, or analysed, before "
                "this measurement existed, or no condition with delays)."]
    order = {condition: i for i, condition in enumerate(labels)}
    rows = []
    for (condition, hidden), group in sorted(both.groupby(["condition", "hidden"]),
                                             key=lambda item: (order.get(item[0][0], len(order)), item[0])):
        largest = group[["delay_clamp_share", "delay_clamp_share_last"]].max(axis=1)
        worst = largest.idxmax()
        rows.append([_label(labels, condition), int(hidden), _share(group["delay_clamp_share"]),
                     _share(group["delay_clamp_max_share"]), _share(group["delay_clamp_share_last"]), len(group),
                     f"{100 * largest[worst]:.1f} % (s{int(group.loc[worst, 'seed'])})"])
    header = ["Condition", "Hidden", "Selected network", "of it at the longest delay", "Last epoch", "n",
              "Largest (run)"]
    return [intro, "", *_table(header, rows, "lrrrrrr")]


# the selected networks' metrics the paper's claims are about (final_metrics.csv), in the page's order
NETWORK_METRICS = {"modularity": "Modularity Q", "small_worldness": "Small-worldness σ",
                   "clustering_ratio": "Clustering ratio", "weight_entropy": "Weight entropy",
                   "communicability_entropy": "Communicability entropy", "delay_median": "Median delay",
                   "delay_iqr": "Delay IQR", "delay_max": "Longest delay",
                   "strength_weighted_delay": "|W|-weighted delay", "delay_fraction_zero": "Delays at 0"}
STEP_METRICS = {"delay_median", "delay_iqr", "delay_max", "strength_weighted_delay"}  # in steps: one decimal


def metrics_section(final_metrics: pd.DataFrame | None, accuracy: pd.DataFrame, labels: Mapping[str, str]) -> list[str]:
    """Per condition and hidden size: the selected networks' graph and delay metrics and the hidden rate at the
    last epoch, mean ± sd over seeds, so that a sweep of a strength (a condition per value) reads as each metric
    against the strength."""
    intro = ("The networks the figures analyse (final_metrics.csv; graph metrics on the graph the claims report "
             "names for each, delays in steps; the |W|-weighted delay is how far the strong connections reach, "
             "Fig. 2B), and the hidden rate at the last epoch (accuracy.csv `rate_last_epoch_hz`): mean ± sd over "
             "seeds, n runs.")
    if final_metrics is None or final_metrics.empty:
        return [intro, "", "No network metrics yet (final_metrics.csv is missing or empty)."]
    present = [m for m in NETWORK_METRICS if m in set(final_metrics["metric"])]
    wide = (final_metrics[final_metrics["metric"].isin(present)]
            .pivot_table(index=list(IDENTIFIERS), columns="metric", values="value", aggfunc="first").reset_index())
    if "rate_last_epoch_hz" in accuracy:
        wide = wide.merge(accuracy[[*IDENTIFIERS, "rate_last_epoch_hz"]], on=list(IDENTIFIERS), how="left")
    order = {condition: i for i, condition in enumerate(labels)}
    rows = []
    for (condition, hidden), group in sorted(wide.groupby(["condition", "hidden"]),
                                             key=lambda item: (order.get(item[0][0], len(order)), item[0])):
        cells = [_mean_sd(group[m], 1 if m in STEP_METRICS else 3) for m in present]
        rate = _mean_sd(group["rate_last_epoch_hz"], 1) if "rate_last_epoch_hz" in group else "—"
        rows.append([_label(labels, condition), int(hidden), *cells, rate, len(group)])
    header = ["Condition", "Hidden", *(NETWORK_METRICS[m] for m in present), "Rate (Hz)", "n"]
    return [intro, "", *_table(header, rows, "l" + "r" * (len(header) - 1))]


def _flag(frame: pd.DataFrame, column: str) -> pd.Series:
    values = frame[column] if column in frame else pd.Series(index=frame.index, dtype=object)
    return values.map(lambda v: str(v).strip().lower() in ("true", "1", "1.0"))


def health_section(accuracy: pd.DataFrame, labels: Mapping[str, str]) -> list[str]:
    """The runs whose last epoch ended with its loss above its epoch-1 loss or its hidden rate outside the window
    it started in (the flags of training/loop.py in each summary)."""
    known = accuracy["loss_above_first_epoch"].notna() if "loss_above_first_epoch" in accuracy else \
        pd.Series(False, index=accuracy.index)
    loss, rate = _flag(accuracy, "loss_above_first_epoch"), _flag(accuracy, "rate_outside_window")
    flagged = accuracy[loss | rate]
    unchecked = int((~known).sum())
    note = (f" {unchecked} run(s) have summaries from before these checks; retrain them to check them." if unchecked
            else "")
    if flagged.empty:
        return [f"No run ended with its loss above its epoch-1 loss or its hidden rate outside the window it started "
                f"in ({int(known.sum())} of {len(accuracy)} runs checked).{note}"]
    rows = [[_label(labels, row.condition), int(row.hidden), int(row.seed), "yes" if loss[index] else "no",
             "yes" if rate[index] else "no"] for index, row in zip(flagged.index, flagged.itertuples(index=False))]
    why = (" A rate below the window need not be a failure: the spike regulariser pulls every neuron towards its "
           "target (`train.spike_reg.target` spikes per neuron and sample; the authors' EventProp runs: 1, i.e. 1 Hz "
           "on 1 s samples), and how hard depends on the condition's k_reg." if rate.any() else "")
    return [f"{len(flagged)} of {len(accuracy)} runs ended worse than they started (their train.log says so at the "
            f"end).{note}{why}", "",
            *_table(["Condition", "Hidden", "Seed", "Loss above epoch 1", "Rate outside its window"], rows, "lrrll")]


def time_section(accuracy: pd.DataFrame, benchmarks: pd.DataFrame) -> list[str]:
    table = timing(accuracy, benchmarks)
    lines = ["Training: the runs' own clocks (summary.json, every attempt of a resumed run, up to its last "
             "checkpoint). Every other job: Snakemake's benchmark files (results/<study>/benchmarks/, the last "
             "attempt of each job)."]
    if table.empty:
        return [*lines, "", "No timings were recorded (runs trained before the clocks existed, no benchmark files)."]
    rows = [[row.rule, row.jobs, duration(row.wall_s), duration(row.cpu_s), row.source]
            for row in table.itertuples(index=False)]
    rows.append(["**all jobs**", int(table["jobs"].sum()), f"**{duration(table['wall_s'].sum())}**",
                 f"**{duration(table['cpu_s'].sum())}**", ""])
    lines += ["", *_table(["Rule", "Jobs", "Wall-clock (summed over jobs)", "CPU time", "Source"], rows, "lrrrl")]
    span = elapsed(_of_this_study(benchmarks, _runs_of(accuracy)))
    if span is not None:
        lines += ["", f"Elapsed from the first timed job's start to the last one's end: {duration(span)} (benchmark "
                      f"files' times; across sessions this includes the pauses between them)."]
    return lines


def _figure_lines(results_dir: Path) -> list[str]:
    lines = []
    for figure in FIGURES:
        png = results_dir / "figures" / f"{figure}.png"
        if not png.is_file():
            raise DataError(f"{png} not found; the page shows every figure. Fix: `snakemake --cores 2 {png}` "
                            f"(with the study's --configfile=...).")
        lines += [f"### {FIGURE_TITLES[figure]}", "", f"![{FIGURE_TITLES[figure]}](figures/{figure}.png)", ""]
    return lines


def _values_of(accuracy: pd.DataFrame, column: str) -> list[str]:
    """The distinct values a run record takes over the study's runs (none where older summaries lack it)."""
    return sorted(accuracy[column].dropna().astype(str).unique()) if column in accuracy else []


def render(results_dir: str | os.PathLike, study: str, labels: Mapping[str, str] | None = None,
           benchmarks_dir: str | os.PathLike | None = None, commit: str = "unknown",
           machine_info: Mapping[str, str] | None = None, now: datetime.datetime | None = None) -> str:
    """The page, from results/<study>/ (aggregated/, tables/, figures/) and the benchmark files."""
    results_dir = Path(results_dir)
    accuracy = read_csv(results_dir / ACCURACY)
    labels = dict(labels) if labels else {c: c for c in sorted(accuracy["condition"].unique())}
    final_path = results_dir / FINAL_METRICS
    final_metrics = read_csv(final_path) if final_path.is_file() else None
    table1_path = results_dir / TABLE1
    if not table1_path.is_file():
        raise DataError(f"{table1_path} not found. Fix: `snakemake --cores 2 {table1_path}` (with the study's "
                        f"--configfile=...).")
    claims = read_csv(results_dir / CLAIMS, allow_empty=True)
    benchmarks = read_benchmarks(benchmarks_dir)
    stamp = (now or datetime.datetime.now(datetime.timezone.utc)).strftime("%Y-%m-%d %H:%M UTC")
    info = machine_info if machine_info is not None else machine()
    runs = len(accuracy)
    lines = [f"# Results of study `{study}`", "",
             f"Rendered {stamp} by `spacetime-snn results-page` from results/{study}/ ({runs} trained runs): every "
             f"number below is read from the pipeline's files, none is typed by hand.", "",
             f"- **Commit:** {commit}",
             *(f"- **{key.capitalize() if key != 'cpu' else 'CPU'}:** {value}" for key, value in info.items())]
    devices = _values_of(accuracy, "device")
    if devices:
        lines.append(f"- **Trained on:** {', '.join(devices)} (torch device of the runs)")
    rules = _values_of(accuracy, "gradient")
    if rules:
        lines.append(f"- **Learning rule:** {'; '.join(RULE_NAMES.get(rule, rule) for rule in rules)} "
                     f"(train.gradient of the runs: {', '.join(rules)})")
    backends = _values_of(accuracy, "backend")
    if backends:
        lines.append(f"- **Time loops:** {', '.join(backends)} (model.backend of the runs: the backends agree to "
                     f"float rounding per step, not over a whole training)")
    lines += ["", "## Table 1", "", table1_path.read_text(encoding="utf-8").strip(), "",
              "## The paper's claims", "", *claims_section(claims), "",
              "## Figures", "", *_figure_lines(results_dir),
              "## Network metrics per condition", "", *metrics_section(final_metrics, accuracy, labels), "",
              "## Delays at the clamp", "", *clamp_section(final_metrics, accuracy, labels), "",
              "## Runs that ended worse than they started", "", *health_section(accuracy, labels), "",
              "## Time", "", *time_section(accuracy, benchmarks)]
    return "\n".join(lines) + "\n"


def write_page(text: str, out: str | os.PathLike) -> None:
    with atomic_path(out) as tmp:
        tmp.write_text(text, encoding="utf-8")


# --- publishing -------------------------------------------------------------------------------------------------

def linked_files(page: str) -> list[str]:
    """The relative paths a page links to (images and links), in order of appearance, each once."""
    links = [link.split("#", 1)[0] for link in _LINK.findall(page)]
    return list(dict.fromkeys(link for link in links if link and "://" not in link and not link.startswith("/")))


def publish(page: str | os.PathLike, destination: str | os.PathLike) -> list[Path]:
    """Copy a rendered page and every file it links to into `destination`, keeping their paths relative to the
    page, so its links work there too (e.g. docs/results/<study>/, to be committed). Returns the files written."""
    page, destination = Path(page), Path(destination)
    if not page.is_file():
        raise DataError(f"{page} not found. Fix: render it first: `snakemake --cores 2 {page}` (with the study's "
                        f"--configfile=...).")
    text = page.read_text(encoding="utf-8")
    sources = {link: (page.parent / link).resolve() for link in linked_files(text)}
    missing = [link for link, path in sources.items() if not path.is_file()]
    if missing:
        raise DataError(f"{page} links to {', '.join(missing)}, which do not exist beside it. Fix: rebuild the "
                        f"study's results (`snakemake --cores 2 {page}` with its --configfile=...).")
    outside = [link for link in sources if Path(os.path.normpath(link)).parts[:1] == ("..",)]
    if outside:
        raise DataError(f"{page} links to {', '.join(outside)} outside its folder; publish copies only files under "
                        f"{page.parent}.")
    written = []
    for link, source in sources.items():
        target = destination / os.path.normpath(link)
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(target) as tmp:
            shutil.copyfile(source, tmp)
        written.append(target)
    destination.mkdir(parents=True, exist_ok=True)
    write_page(text, destination / page.name)
    return [destination / page.name, *written]


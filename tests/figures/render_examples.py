"""Render every figure and Table 1 from the fake tables, for looking at them by eye.

    python tests/figures/render_examples.py OUT_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import fake_figure_data as fake  # noqa: E402

from spacetime_snn.figures import fig1, fig2, fig3, fig4, table1  # noqa: E402
from spacetime_snn.figures.style import condition_colors, save_figure  # noqa: E402


def render(out_dir: Path) -> list[Path]:
    tables = fake.all_tables()
    colors = condition_colors(list(fake.LABELS))
    figures = {
        "fig1": fig1.figure1(tables["input_raster"], tables["input_maps"], tables["input_maps_time"],
                             tables["ridge"], condition="spatial_cost", labels=fake.MAIN_LABELS, colors=colors,
                             network_nodes=tables["network_nodes"]),
        "fig2": fig2.figure2(tables["network_nodes"], tables["network_edges"], tables["training_dynamics"],
                             labels=fake.MAIN_LABELS, colors=colors, without_cost="spatial",
                             with_cost="spatial_cost"),
        "fig3": fig3.figure3(tables["pruning"], tables["delay_histogram"], tables["pruned_graph"],
                             labels=fake.MAIN_LABELS, colors=colors),
        "fig4": fig4.figure4(tables["accuracy"], labels=fake.LABELS, colors=colors),
    }
    written = []
    for name, figure in figures.items():
        written += save_figure(figure, out_dir / f"{name}.pdf")
    table = table1.table1(tables["accuracy"], fake.LABELS)
    table1.write_table1(table, out_dir / "table1.csv", out_dir / "table1.md")
    return written + [out_dir / "table1.csv", out_dir / "table1.md"]


if __name__ == "__main__":
    for path in render(Path(sys.argv[1] if len(sys.argv) > 1 else "figures-preview")):
        print(path)

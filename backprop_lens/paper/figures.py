"""Drawing an experiment's picture grid with matplotlib (no pyplot: no global state, any
backend, safe in worker threads and on machines without a display)."""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

from matplotlib.figure import Figure

if TYPE_CHECKING:
    from .results import ExperimentResult

CELL_INCHES = 1.9
HEADER_LINE_INCHES = 0.22
WRAP = 110


def draw(result: ExperimentResult) -> Figure:
    """Rows × columns of pictures, row and column labels, a caption under each picture, and
    a header naming the experiment, its setting and each claim with its verdict."""
    grid = result.grid
    header = [f"{result.id}: {result.title}", *textwrap.wrap(result.setting, WRAP)]
    for claim in result.claims:
        verdict = "holds" if claim.holds else "FAILS"
        header.extend(textwrap.wrap(f"[{verdict}] {claim.claim}: {claim.metric} = "
                                    f"{claim.value:.3g} ({claim.condition()})", WRAP))
    # cells[i][j] drawn at row j, column i; a single setting is drawn as one row instead.
    cells, row_names, column_names = grid.cells, grid.rows, grid.columns
    if len(grid.columns) == 1:
        cells = [[cell] for cell in grid.cells[0]]
        row_names, column_names = grid.columns, grid.rows
    n_rows, n_cols = len(row_names), len(column_names)
    top = HEADER_LINE_INCHES * (len(header) + 1)
    width = max(CELL_INCHES * n_cols + 1.0, 7.5)
    height = (CELL_INCHES + 0.35) * n_rows + top
    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    figure.suptitle("\n".join(header), fontsize=8, x=0.01, ha="left")
    axes = figure.subplots(n_rows, n_cols, squeeze=False)
    for c, (column, column_cells) in enumerate(zip(column_names, cells, strict=True)):
        for r, (row, (picture, caption)) in enumerate(zip(row_names, column_cells, strict=True)):
            ax = axes[r][c]
            ax.imshow(picture, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_xlabel(caption, fontsize=7)
            if r == 0:
                ax.set_title(column, fontsize=8)
            if c == 0:
                ax.set_ylabel(row, fontsize=8)
    return figure

"""An experiment's picture grid and drawing it with matplotlib (no pyplot: no global state, any
backend, safe in worker threads and on machines without a display).

This module knows pictures, captions and header lines, not experiments: ``results`` builds the
header from its claims and calls :func:`draw`, so the arrow runs one way (results → figures).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

CELL_INCHES = 1.9
HEADER_LINE_INCHES = 0.22

Cell = tuple[np.ndarray, str]  # an (H, W, 3) uint8 picture and its caption


@dataclass
class PictureGrid:
    """Pictures in rows × columns, each with a caption: the figure of an experiment.

    Like the paper's figures: one column per setting, a row of inputs, a row per method.
    ``cells[column][row]``.
    """

    rows: list[str]
    columns: list[str] = field(default_factory=list)
    cells: list[list[Cell]] = field(default_factory=list)

    def add_column(self, name: str, cells: Sequence[Cell]) -> None:
        if len(cells) != len(self.rows):
            raise ValueError(f"a column needs one cell per row ({len(self.rows)}); "
                             f"got {len(cells)}")
        self.columns.append(name)
        self.cells.append(list(cells))


def draw(grid: PictureGrid, header: Sequence[str]) -> Figure:
    """Rows × columns of pictures, row and column labels, a caption under each picture, and
    ``header`` (already wrapped lines) as the title above them."""
    # matplotlib loads on first drawing: importing the paper's experiments stays light.
    from matplotlib.figure import Figure

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

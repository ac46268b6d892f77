"""What an experiment returns: its maps, its numbers, the claims they check, and a figure."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from .claims import Claim

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: metrics[column][method][metric name] = the mean over the experiment's images.
Metrics = dict[str, dict[str, dict[str, float]]]


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


@dataclass
class ExperimentResult:
    """One experiment, measured.

    ``maps[column][method]`` holds the maps of every image (N, C, H, W); ``metrics`` the means
    over those images (see :data:`Metrics`); ``claims`` the checks, holds or fails as measured.
    """

    id: str
    title: str
    setting: str
    maps: dict[str, dict[str, torch.Tensor]]
    metrics: Metrics
    claims: list[Claim]
    grid: PictureGrid = field(repr=False)

    @property
    def holds(self) -> bool:
        """Whether every claim of the experiment holds."""
        return all(claim.holds for claim in self.claims)

    def figure(self) -> Figure:
        """The grid as a matplotlib figure, titled with the claims and their verdicts."""
        from .figures import draw

        return draw(self)

    def png(self) -> bytes:
        buffer = io.BytesIO()
        self.figure().savefig(buffer, format="png")
        return buffer.getvalue()

    def save_figure(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_bytes(self.png())
        return path

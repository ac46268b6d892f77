"""What an experiment returns: its maps, its numbers, the claims they check, and a figure."""

from __future__ import annotations

import io
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from .claims import Claim
from .figures import PictureGrid, draw

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# PictureGrid is re-exported: experiments build one and hand it to their result.
__all__ = ["ExperimentResult", "Metrics", "PictureGrid"]

#: metrics[column][method][metric name] = the mean over the experiment's images.
Metrics = dict[str, dict[str, dict[str, float]]]

HEADER_WRAP = 110  # characters per line of a figure's header


@dataclass
class ExperimentResult:
    """One experiment, measured.

    ``maps[column][method]`` holds the maps of every image (N, C, H, W); ``metrics`` the means
    over those images (see :data:`Metrics`); ``claims`` the checks, holds or fails as measured;
    ``model`` the name(s) of the network(s) measured, which each claim carries too.
    """

    id: str
    title: str
    setting: str
    maps: dict[str, dict[str, torch.Tensor]]
    metrics: Metrics
    claims: list[Claim]
    grid: PictureGrid = field(repr=False)
    model: str = ""

    def check(self, claim: str, metric: str, value: float, threshold: float, op: str) -> Claim:
        """A claim of this experiment on this model: ``value op threshold``."""
        return Claim(self.id, claim, metric, value, threshold, op, self.model)

    @property
    def holds(self) -> bool:
        """Whether every claim of the experiment holds."""
        return all(claim.holds for claim in self.claims)

    def figure(self) -> Figure:
        """The grid as a matplotlib figure, titled with the claims and their verdicts."""
        return draw(self.grid, self.header())

    def header(self, width: int = HEADER_WRAP) -> list[str]:
        """The figure's title lines: the experiment, its setting, and each claim with its
        verdict and measured value, wrapped at ``width`` characters."""
        name = f"{self.id} on {self.model}" if self.model else self.id
        lines = [f"{name}: {self.title}", *textwrap.wrap(self.setting, width)]
        for claim in self.claims:
            verdict = "holds" if claim.holds else "FAILS"
            lines.extend(textwrap.wrap(f"[{verdict}] {claim.claim}: {claim.metric} = "
                                       f"{claim.value:.3g} ({claim.condition()})", width))
        return lines

    def png(self) -> bytes:
        buffer = io.BytesIO()
        self.figure().savefig(buffer, format="png")
        return buffer.getvalue()

    def save_figure(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_bytes(self.png())
        return path

"""The geometry both sliding-window generators are tested over, and its golden windows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from flows.ops.sliding_window import sliding_window


@dataclass(frozen=True)
class Window:
    h: int
    w: int
    ch: int
    k: int
    stride: int
    pads: tuple[int, int, int, int]  # top, left, bottom, right
    pad_value: int
    ew: int

    @property
    def params(self) -> dict[str, int]:
        t, l, b, r = self.pads
        return {"IFM_H": self.h, "IFM_W": self.w, "CH": self.ch, "K": self.k,
                "STRIDE": self.stride, "PAD_T": t, "PAD_L": l, "PAD_B": b, "PAD_R": r,
                "PAD_VALUE": self.pad_value, "EW": self.ew}

    @property
    def positions(self) -> int:
        """Positions of the padded image: the cycles one image takes at one position per cycle."""
        t, l, b, r = self.pads
        return (self.h + t + b) * (self.w + l + r)

    @property
    def id(self) -> str:
        return (f"{self.h}x{self.w}x{self.ch}-k{self.k}s{self.stride}"
                f"-p{''.join(map(str, self.pads))}v{self.pad_value}-ew{self.ew}")

    def windows(self, x: np.ndarray) -> np.ndarray:
        """Every output position's K x K x C window of x (images, h, w, ch)."""
        return sliding_window(x, self.k, self.stride, self.pads, self.pad_value)

    def images(self, n: int, seed: int | None = None) -> np.ndarray:
        seed = self.h * 100 + self.w * 10 + self.ch if seed is None else seed
        return np.random.default_rng(seed).integers(0, 1 << self.ew, size=(n, self.h, self.w, self.ch))

"""Design points of a sweep: the fold search's candidate foldings, per board, as folding files.

A folding is what auto_fold produces at one of candidate_cycles(hw) (every bottleneck the fold
search can produce). Its id is its bottleneck in cycles per image ("c28"), and it is written once
as a FINN-format folding_config.json under foldings/, shared by every board it is built for, so
`make build ... FOLDING_CONFIG=foldings/c28.json` rebuilds any point.

Per board the sweep keeps the distinct foldings from the fastest one whose analytic estimate fits
the board (fold_to_budget with AnalyticFit: every resource at most max_utilisation of capacity,
the same test as `TARGET_FPS=max`) down to the floor: the slowest candidate, every layer at its
least parallel folding. When that is more than `max_points`, it keeps `max_points` of them evenly
spaced through the list (both ends kept); the candidates are roughly geometric in cycles, so the
points are too.
"""
from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path

from qonnx.core.modelwrapper import ModelWrapper

from flows.build.folder import file_hash
from flows.boards import load_board
from flows.build import fold as folding
from flows.fileio import write_json
from flows.ops import FOLDABLE


@dataclass(frozen=True)
class Folding:
    id: str       # "c<bottleneck cycles>"
    cycles: int   # bottleneck cycles per image
    config: dict  # FINN-format folding_config.json content


@dataclass(frozen=True)
class Point:
    """One design point: a folding on a board, built in its own folder. Plain data (paths as
    strings), so it travels to a Dask worker as it is."""

    model: str
    board: str
    folding_id: str
    cycles: int
    folding_file: str
    point_dir: str
    base_dir: str           # the sweep's export/streamline/lower build, copied into point_dir
    checkpoint: str | None
    estimate: str           # "yosys" | "analytic"
    n_sim: int              # images to simulate in RTL (0: none)
    size_fifos: bool

    @property
    def name(self) -> str:
        return f"{self.board}-{self.folding_id}"

    def key(self) -> str:
        """What a finished point's record must match to be skipped on a rerun: the folding's
        content and every setting of its build (not where it lives)."""
        parts = asdict(self)
        for k in ("point_dir", "base_dir", "folding_file"):
            parts.pop(k)
        parts["folding"] = Path(self.folding_file).read_bytes().decode() if Path(self.folding_file).is_file() else ""
        if self.checkpoint and Path(self.checkpoint).is_file():
            parts["checkpoint_sha256"] = file_hash(Path(self.checkpoint))
        return hashlib.sha256(repr(sorted(parts.items())).encode()).hexdigest()


def _config(hw: ModelWrapper) -> dict:
    """The folding as FINN's folding_config.json: PE/SIMD of every layer that folds on its own (a
    sliding-window generator has a SIMD too, but it follows its MVTU's and a config may not name it)."""
    foldable = {n.name for n in hw.graph.node if n.op_type in FOLDABLE}
    cfg: dict = {"Defaults": {}}
    for f in folding.layer_folds(hw):
        if f.name in foldable:
            cfg[f.name] = {k: v for k, v in (("PE", f.pe), ("SIMD", f.simd)) if v is not None}
    return cfg


def candidate_foldings(hw: ModelWrapper) -> list[Folding]:
    """Every distinct folding auto_fold produces at the candidate bottlenecks, fastest first.
    Two targets giving the same bottleneck keep the first (faster target) folding. `hw` is left
    folded at the last one."""
    out: dict[int, Folding] = {}
    for target in folding.candidate_cycles(hw):
        folding.auto_fold(hw, target)
        cycles = folding.bottleneck_cycles(hw)
        if cycles not in out:
            out[cycles] = Folding(f"c{cycles}", cycles, _config(hw))
    return sorted(out.values(), key=lambda f: f.cycles)


def fastest_fitting_cycles(hw: ModelWrapper, board: str, max_utilisation: float) -> int | None:
    """The bottleneck of the fastest automatic folding whose analytic estimate fits `board`
    (None: not even the slowest does)."""
    fit = folding.AnalyticFit(load_board(board), max_utilisation)
    try:
        return folding.bottleneck_cycles(folding.fold_to_budget(hw, fit))
    except folding.NoFoldingFitsError:
        return None


def spread(items: list, most: int) -> list:
    """At most `most` of `items`, evenly spaced by position, first and last kept (most <= 0: all)."""
    if most <= 0 or len(items) <= most:
        return list(items)
    if most == 1:
        return [items[0]]
    idx = sorted({round(i * (len(items) - 1) / (most - 1)) for i in range(most)})
    return [items[i] for i in idx]


def board_foldings(foldings: list[Folding], fastest: int | None, max_points: int) -> list[Folding]:
    """A board's foldings: from the fastest that fits (`fastest` cycles) down to the slowest."""
    if fastest is None:
        return []
    return spread([f for f in foldings if f.cycles >= fastest], max_points)


def write_foldings(foldings: list[Folding], folder: Path) -> dict[str, Path]:
    """Write each folding as folder/<id>.json (only when its content changed); {id: path}."""
    paths = {}
    for f in foldings:
        path = folder / f"{f.id}.json"
        text = _dump(f.config)
        if not path.is_file() or path.read_text() != text:
            write_json(path, f.config)
        paths[f.id] = path
    return paths


def _dump(cfg: dict) -> str:
    import json

    return json.dumps(cfg, indent=2, sort_keys=False) + "\n"  # as write_json writes it

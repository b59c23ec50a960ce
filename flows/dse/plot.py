"""pareto.png: FPS against LUT and against BRAM36, one colour per board, each board's Pareto
front joined and its capacity drawn."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from flows.dse.report import board_fronts
from flows.fileio import atomic_path

MARKERS = ("o", "s", "^", "D", "v", "P", "X")


def plot_pareto(records: Sequence[dict], capacities: dict[str, dict], path: Path, title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in records if r["status"] == "ok"]
    boards = list(capacities)
    colours = {b: plt.cm.tab10(i % 10) for i, b in enumerate(boards)}
    fig, axes = plt.subplots(1, 2, figsize=(12, 5), constrained_layout=True)
    for ax, kind, unit in ((axes[0], "LUT", "LUTs"), (axes[1], "BRAM36", "BRAM36 blocks")):
        fronts = board_fronts(ok, kind)
        for i, board in enumerate(boards):
            mine = [r for r in ok if r["board"] == board]
            c, m = colours[board], MARKERS[i % len(MARKERS)]
            # Boards with one part (Pynq-Z1, Pynq-Z2) give the same points: each later board's markers
            # are smaller and drawn on top, so the earlier ones still show around them as rings.
            size = max(12.0, 120 * 0.45 ** i)
            fit = [r for r in mine if r["fits"]]
            over = [r for r in mine if not r["fits"]]
            ax.scatter([r[kind] for r in fit], [r["fps"] for r in fit], s=size, marker=m, facecolors="none",
                       edgecolors=[c], linewidths=1.2, zorder=3 + i, label=f"{board} ({len(mine)} points)")
            if over:
                ax.scatter([r[kind] for r in over], [r["fps"] for r in over], s=size, marker="x", color=c,
                           label=f"{board}: does not fit")
            front = fronts.get(board, [])
            if front:
                ax.step([r[kind] for r in front], [r["fps"] for r in front], where="post", color=c, alpha=0.7,
                        linewidth=1.2)
                ax.scatter([r[kind] for r in front], [r["fps"] for r in front], s=size, marker=m, color=c,
                           zorder=3 + i, label=f"{board} Pareto front ({len(front)})")
        _capacity_lines(ax, capacities, kind, colours)
        ax.set_xlabel(f"{unit} ({_method(ok)} estimate)")
        ax.set_ylabel("images/s at the board clock (clock / bottleneck cycles)")
        if ok:
            ax.set_yscale("log")
        else:
            ax.text(0.5, 0.5, "no point was built (see results.csv)", transform=ax.transAxes, ha="center")
        # Log scale when the points and the capacity lines span more than 20x (and none is zero).
        values = [r[kind] for r in ok] + [c[kind] for c in capacities.values() if c[kind]]
        if values and min(values) > 0 and max(values) / min(values) > 20:
            ax.set_xscale("log")
        ax.grid(True, which="both", alpha=0.25)
        ax.set_title(f"FPS against {kind}")
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
        axes[0].legend(handles, labels, fontsize=8, loc="lower right")
    fig.suptitle(title or "design-space exploration")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def _capacity_lines(ax, capacities: dict[str, dict], kind: str, colours: dict) -> None:
    """One dashed vertical line per distinct capacity, labelled with every board that has it."""
    by_cap: dict[float, list[str]] = {}
    for board, cap in capacities.items():
        by_cap.setdefault(cap[kind], []).append(board)
    for cap, boards in by_cap.items():
        if not cap:
            continue
        ax.axvline(cap, color=colours[boards[0]], linestyle="--", linewidth=1)
        ax.annotate(f"{' / '.join(boards)}: {cap:,g}", xy=(cap, 1), xycoords=("data", "axes fraction"),
                    xytext=(-3, -4), textcoords="offset points", rotation=90, ha="right", va="top", fontsize=8,
                    color=colours[boards[0]])


def _method(records: Sequence[dict]) -> str:
    methods = sorted({r["estimate"] for r in records})
    return "/".join(methods) or "no"

"""Yosys against the analytic model: per layer of a built accelerator, or on the calibration set.

    bnnflow bench resources                      # build/tfc_w1a1_nobn-Pynq-Z2 (make build first)
    bnnflow bench resources --build-dir DIR
    bnnflow bench resources --calibrate          # the MVTU configurations the model was fitted to
"""
from __future__ import annotations

import argparse
import random
import sys
import tempfile
from pathlib import Path

from flows.backends.manifest import Manifest
from flows.build.artefacts import FOLDED, RTL
from flows.estimates.analytic import mvtu
from flows.backends.rtl_library import library_files
from flows.boards import load_board
from flows.errors import FlowError
from flows.fileio import load_onnx
from flows.estimates.estimate import estimate
from flows.estimates.resources import KINDS, Resources
from flows.estimates.yosys_synth import SynthJob, synthesise_all
from flows.paths import REPO

# (MW, MH, PE, SIMD, IN_BITS, ACC_BITS, WEIGHT_BITS): XNOR and 8-bit-input layers, narrow to
# wide folds, and layers with multi-bit weights (a grey 3x3 stem, an RGB one, layers on +-1 bits).
CALIBRATION = [
    (64, 64, 8, 8, 1, 7, 1), (64, 10, 2, 4, 1, 7, 1), (256, 64, 4, 16, 1, 9, 1), (128, 128, 16, 32, 1, 8, 1),
    (512, 64, 1, 32, 1, 10, 1), (36, 16, 4, 12, 8, 16, 1), (784, 64, 8, 16, 8, 19, 1), (256, 256, 32, 4, 1, 9, 1),
    (1024, 32, 2, 64, 1, 11, 1), (27, 64, 16, 3, 8, 16, 1),
    (9, 32, 4, 9, 8, 16, 4), (9, 32, 16, 9, 8, 16, 4), (27, 64, 8, 9, 8, 18, 4), (9, 32, 8, 9, 8, 14, 2),
    (27, 32, 4, 27, 8, 21, 8),
    (64, 32, 4, 16, 1, 9, 4), (512, 10, 2, 32, 1, 13, 4),  # 4-bit transition / classifier on +-1 bits
]


def _row(name: str, y: Resources, a: Resources) -> str:
    yd, ad = y.as_dict(), a.as_dict()
    cells = [f"{yd[k]:>8,.4g} {ad[k]:>8,.4g} {(ad[k] - yd[k]) / yd[k]:>+6.0%}" if yd[k] else
             f"{yd[k]:>8,.4g} {ad[k]:>8,.4g} {'':>6s}" for k in KINDS]
    return f"{name:26s} " + " | ".join(cells)


def _header() -> str:
    return f"{'':26s} " + " | ".join(f"{k + ' yosys':>8s} {'model':>8s} {'err':>6s}" for k in KINDS)


def bench_build(build_dir: Path, board_name: str) -> str:
    rtl = build_dir / RTL
    Manifest.read(rtl)  # a clear error where no build wrote one
    model = load_onnx(build_dir / FOLDED)
    board = load_board(board_name)
    y = estimate(rtl, model, board, "yosys", log=lambda s: print(s, file=sys.stderr))
    a = {e.name: e.resources for e in estimate(rtl, model, board, "analytic").layers}
    lines = [_header()] + [_row(e.name, e.resources, a[e.name]) for e in y.layers]
    lines.append(_row("total", y.total, Resources.total(list(a.values()))))
    return "\n".join(lines)


# FINN's published cnv_w1a1 on the xc7z020 at 100 MHz, post-synthesis (finn PR #209, shared/REFERENCES.md).
FINN_CNV = {"fps": 3020, "LUT": 21135, "BRAM36": 98 + 9 / 2, "BRAM": "98 BRAM36 + 9 BRAM18"}


def bench_cnv_finn(board_name: str) -> str:
    """cnv_w1a1 (CIFAR-10 shape, random weights) at FINN's published folding: the Yosys estimate per
    layer, then ours beside FINN's published figures for the same network and folding."""
    from flows.backends.rtlgen import generate_rtl
    from flows.bench.sim import CASES, _hardware
    from flows.build.fold import bottleneck_cycles
    from flows.build.report import gops_per_klut, ops_per_image

    with tempfile.TemporaryDirectory() as tmp:
        rtl = Path(tmp) / "rtl"
        hw = _hardware(CASES["cnv"], Path(tmp))
        generate_rtl(hw, rtl)
        est = estimate(rtl, hw, load_board(board_name), "yosys", log=lambda s: print(s, file=sys.stderr))
    ops = ops_per_image(hw)
    fps = 100e6 / bottleneck_cycles(hw)
    rows = [("bnnflow (Yosys estimate)", fps, est.total.LUT, f"{est.total.BRAM36:g} BRAM36"),
            ("FINN (published, post-synthesis)", FINN_CNV["fps"], FINN_CNV["LUT"], FINN_CNV["BRAM"])]
    lines = ["", f"cnv_w1a1 at FINN's folding, 100 MHz; GOP/s = 2 x MACs of the XNOR layers "
             f"({ops.binary:,} per image) x FPS", "",
             "| | FPS | LUT | BRAM | binary GOP/s | GOP/s per kLUT |", "|---|---:|---:|---|---:|---:|"]
    lines += [f"| {name} | {f:,.0f} | {lut:,.0f} | {bram} | {ops.binary * f / 1e9:,.1f} | "
              f"{gops_per_klut(ops.binary * f, lut):,.1f} |" for name, f, lut, bram in rows]
    return est.table() + "\n" + "\n".join(lines)


def bench_calibration(only_multibit: bool = False) -> str:
    jobs, model = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for mw, mh, pe, simd, ib, acc, wb in CALIBRATION:
            if only_multibit and wb == 1:
                continue
            name = f"MVTU {mw}x{mh} PE{pe} SIMD{simd} {ib}b" + (f" w{wb}" if wb > 1 else "")
            d = Path(tmp) / name.replace(" ", "_")
            d.mkdir()
            # Random weights and thresholds, so no ROM simplifies away; seeded for the Yosys cache.
            rnd = random.Random(f"mvtu_{mw}x{mh}_p{pe}_s{simd}_i{ib}" + (f"_w{wb}" if wb > 1 else ""))
            nf, sf = mh // pe, mw // simd
            (d / "w.hex").write_text("".join(f"{rnd.getrandbits(pe * simd * wb):x}\n" for _ in range(nf * sf)))
            (d / "t.hex").write_text("".join(f"{rnd.getrandbits(pe * acc):x}\n" for _ in range(nf)))
            params = {"MW": mw, "MH": mh, "PE": pe, "SIMD": simd, "IN_BITS": ib, "ACC_BITS": acc, "USE_THRESH": 1,
                      "WEIGHT_BITS": wb}
            jobs[name] = SynthJob("bnn_mvtu", {**{k: str(v) for k, v in params.items()},
                                               "WEIGHT_FILE": '"w.hex"', "THRESH_FILE": '"t.hex"'},
                                  tuple(library_files("bnn_mvtu")), d, "xc7")
            model[name] = mvtu(**params)
        measured = {n: r.resources for n, r in synthesise_all(jobs, lambda s: print(s, file=sys.stderr)).items()}
    return "\n".join([_header()] + [_row(n, measured[n], model[n]) for n in jobs])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bnnflow bench resources", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build-dir", type=Path, default=REPO / "build" / "tfc_w1a1_nobn-Pynq-Z2")
    p.add_argument("--board", default="Pynq-Z2")
    p.add_argument("--calibrate", action="store_true")
    p.add_argument("--only-multibit", action="store_true", help="with --calibrate: the multi-bit weight entries")
    p.add_argument("--cnv-finn", action="store_true", help="cnv_w1a1 at FINN's folding instead of a build")
    args = p.parse_args(argv)
    try:
        if args.calibrate:
            print(bench_calibration(args.only_multibit))
        elif args.cnv_finn:
            print(bench_cnv_finn(args.board))
        else:
            print(bench_build(args.build_dir, args.board))
    except FlowError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`make fuzz`: random Brevitas networks through the whole flow, RTL included, until one disagrees.

Each example is a network of flows/random_networks.py (the property test's
topologies, parameters and 64 images) drawn by Hypothesis from one run seed,
printed first and accepted back with --seed (make fuzz SEED=...) to repeat the
run. For each network:

1. Brevitas forward on the images (the reference scores);
2. export -> streamline -> lower, and the golden model on the hardware graph:
   its labels must be Brevitas' argmax and its last-layer integers must order the
   scores exactly as Brevitas' do (only the labels for a residual stage with
   BatchNorm, `Topology.exact_scores`), the checks of tests/test_property_topologies.py;
3. a random folding (auto_fold at one of the bottlenecks it can produce, drawn from
   the fold seed), RTL generation of the graph without its label select, Verilator, simulation: every
   last-layer integer out of the RTL must equal the golden model's.

A failure is printed with its stage, saved as a Python file under
<out>/failures/ that rebuilds the network (`bnnflow fuzz --replay FILE`
runs it again and says which of export and streamline first disagrees with
Brevitas), and the run goes on.

Where the time goes: compiling each network's Verilator harness is nearly all of
it (the simulation of 64 images is milliseconds). The fuzzer therefore compiles
the harness's C++ at -O1 instead of the flow's -O3 (about 2.5 times faster to
compile, the simulations stay fast) and keeps one content-keyed harness cache for the whole run, so a network whose
structure and folding repeat (weights are read at run time) is not compiled again.
`--draws K` uses that: each drawn topology and folding is checked with K weight draws
(weights, BatchNorm statistics with negative gammas, images: a different network each),
which compile one harness between them.
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from flows.testing import random_networks
from flows.testing.random_networks import Topology

DEFAULT_OUT = Path("build") / "fuzz"
# The fuzzer's harnesses: quick to compile, slower to simulate (irrelevant at 64 small images).
FUZZ_CXX_OPT = "-O1"
# Harnesses kept in the run's cache; the oldest go beyond this (about 1 MB each).
CACHE_ENTRIES = 500


class StageFailure(Exception):
    """A check of one stage failed: `stage` names it, the message says how."""

    def __init__(self, stage: str, message: str) -> None:
        super().__init__(f"{stage}: {message}")
        self.stage = stage


@dataclass
class Timings:
    seconds: dict[str, float] = field(default_factory=dict)

    def add(self, stage: str, t0: float) -> float:
        now = time.perf_counter()
        self.seconds[stage] = self.seconds.get(stage, 0.0) + now - t0
        return now

    def summary(self, n: int) -> str:
        total = sum(self.seconds.values()) or 1.0
        return ", ".join(f"{k} {v / max(n, 1):.2f}s ({v / total:.0%})" for k, v in self.seconds.items())


def _scores(model: torch.nn.Module, x: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        y = model(x)
    return (y.value if hasattr(y, "value") else y).numpy()


def _same_order(ints: np.ndarray, scores: np.ndarray) -> bool:
    """The integers are the scores under one increasing affine map (tests/golden_checks.py)."""
    ints, flat = ints.astype(np.float64).reshape(-1), scores.astype(np.float64).reshape(-1)
    i, j = np.argmin(ints), np.argmax(ints)
    if ints[i] == ints[j]:
        return bool(np.all(flat == flat[0]))
    scale = (flat[j] - flat[i]) / (ints[j] - ints[i])
    return bool(scale > 0 and np.array_equal(ints * scale + (flat[i] - ints[i] * scale), flat))


def _first_mismatch(a: np.ndarray, b: np.ndarray) -> str:
    a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    bad = np.flatnonzero((a != b).any(axis=1))
    k = bad[0]
    return f"{len(bad)} of {len(a)} images differ; image {k}: {a[k].tolist()} vs {b[k].tolist()}"


def check_network(topology: Topology, seed: int, work: Path, timings: Timings | None = None,
                  rtl: bool = True, fold_seed: int | None = None) -> None:
    """Run one network through the flow; raise StageFailure at the first check that fails.

    `seed` draws the parameters and images, `fold_seed` (default `seed`) the folding."""
    from flows.backends.rtlgen import generate_rtl
    from flows.build.fold import auto_fold, candidate_cycles
    from flows.compile import lower
    from flows.frontend.lower import score_node, to_hw_layout, without_label_select
    from flows.sim.golden import run_golden
    from flows.sim.rtlsim import compile_accelerator, simulate

    timings = timings or Timings()
    t = time.perf_counter()

    def stage(name: str, fn, *args):
        nonlocal t
        try:
            out = fn(*args)
        except StageFailure:
            raise
        except Exception as e:  # noqa: BLE001  (any crash of the flow is a finding)
            raise StageFailure(name, f"{type(e).__name__}: {e}\n{traceback.format_exc()}") from e
        t = timings.add(name, t)
        return out

    def brevitas():
        torch.manual_seed(seed)
        model = topology.build()
        images = random_networks.random_images(np.random.default_rng(seed), topology.input_shape)
        x = torch.as_tensor(images, dtype=torch.float32) / 256
        random_networks.randomise(model, x, seed)
        return model, images, _scores(model, x)

    model, images, scores = stage("brevitas", brevitas)
    hw = stage("export+streamline+lower",
               lambda: lower(model, topology.input_shape)[2])
    x = to_hw_layout(images)
    ctx = stage("golden", run_golden, hw, x, True)
    ints = ctx[score_node(hw).output[0]]
    labels = ctx[hw.graph.output[0].name][:, 0]
    if not np.array_equal(labels, scores.argmax(1)):
        raise StageFailure("golden", "labels differ from Brevitas' argmax: "
                           + _first_mismatch(labels[:, None], scores.argmax(1)[:, None]))
    if topology.exact_scores and not _same_order(ints, scores):
        raise StageFailure("golden", "last-layer integers do not order like Brevitas' scores: "
                           f"image 0 {ints.reshape(len(ints), -1)[0].tolist()} vs {scores[0].tolist()}")
    if not rtl:
        return

    def rtl_outputs():
        cands = candidate_cycles(hw)
        fold_rng = np.random.default_rng(seed if fold_seed is None else fold_seed)
        auto_fold(hw, cands[int(fold_rng.integers(len(cands)))])
        rtl_dir = work / "rtl"
        shutil.rmtree(rtl_dir, ignore_errors=True)
        generate_rtl(without_label_select(hw), rtl_dir)
        return rtl_dir

    rtl_dir = stage("fold+rtlgen", rtl_outputs)
    stage("verilator", compile_accelerator, rtl_dir)
    res = stage("simulate", lambda: simulate(rtl_dir, x, workers=1))
    got = res.outputs.reshape(ints.shape)
    if not np.array_equal(got, ints):
        raise StageFailure("rtl", "RTL integers differ from the golden model's: " + _first_mismatch(got, ints))


def use_fast_harnesses() -> None:
    """Compile harnesses at FUZZ_CXX_OPT (see the module doc). flows.sim.verilator reads it at build
    time and keys its cache on it, so these harnesses never mix with the flow's -O3 ones."""
    from flows.sim import verilator

    verilator.CXX_OPT = FUZZ_CXX_OPT


def _prune_cache(root: Path, keep: int) -> None:
    entries = [p for p in root.glob("*-*") if p.is_dir() and not p.name.startswith(("runtime-", "."))]
    if len(entries) > keep:
        for p in sorted(entries, key=lambda p: p.stat().st_mtime)[: len(entries) - keep]:
            shutil.rmtree(p, ignore_errors=True)


def failure_text(topology: Topology, seed: int, failure: StageFailure, run: str, fold_seed: int) -> str:
    message = "\n".join(f"# {line}" for line in str(failure).splitlines())
    return (f'"""make fuzz failure: {run}, stage {failure.stage}.\n\n'
            f"Reproduce: .venv/bin/bnnflow fuzz --replay THIS_FILE\n"
            f'As a regression test: @example(topology=<TOPOLOGY>, seed=<SEED>) in tests/test_property_topologies.py.\n"""\n'
            f"from flows.testing.random_networks import *  # noqa: F403\n\n"
            f"TOPOLOGY = {topology!r}\nSEED = {seed}\nFOLD_SEED = {fold_seed}\n\n{message}\n")


def load_failure(path: Path) -> tuple[Topology, int, int]:
    """(topology, seed, fold seed) of a saved failure; files from before --draws fold with the seed."""
    ns: dict = {}
    exec(compile(Path(path).read_text(), str(path), "exec"), ns)  # noqa: S102  (a file this module wrote)
    return ns["TOPOLOGY"], ns["SEED"], ns.get("FOLD_SEED", ns["SEED"])


def _diagnose(topology: Topology, seed: int) -> str:
    """Which flow step first moves away from Brevitas: the QONNX export or the streamlined graph,
    executed node by node by qonnx on the first images."""
    from qonnx.core.onnx_exec import execute_onnx

    from flows.frontend.export import export_qonnx
    from flows.frontend.streamline import INPUT_NAME, streamline

    torch.manual_seed(seed)
    model = topology.build()
    images = random_networks.random_images(np.random.default_rng(seed), topology.input_shape)
    x = torch.as_tensor(images, dtype=torch.float32) / 256
    random_networks.randomise(model, x, seed)
    scores = _scores(model, x)[:4]
    exported = export_qonnx(model, topology.input_shape)
    out = []
    q_in, q_out = exported.graph.input[0].name, exported.graph.output[0].name
    q = np.concatenate([execute_onnx(exported, {q_in: x[i : i + 1].numpy()})[q_out] for i in range(4)])
    out.append(f"export == Brevitas on 4 images: {np.array_equal(q, scores)}")
    s = streamline(exported)
    v = np.concatenate([execute_onnx(s, {INPUT_NAME: images[i : i + 1].astype(np.float32)})[s.graph.output[0].name]
                        for i in range(4)])
    out.append(f"streamlined == Brevitas on 4 images: {np.array_equal(v, scores)} "
               f"(same argmax: {np.array_equal(v.argmax(1), scores.argmax(1))})")
    return "\n".join(out)


def replay(path: Path, work: Path) -> int:
    topology, seed, fold_seed = load_failure(path)
    print(f"replaying {path}: seed {seed}, fold seed {fold_seed}\n{topology!r}", flush=True)
    try:
        check_network(topology, seed, work, fold_seed=fold_seed)
    except StageFailure as f:
        print(f"FAILS at {f}", flush=True)
        try:
            print(_diagnose(topology, seed), flush=True)
        except Exception as e:  # noqa: BLE001
            print(f"(diagnosis failed: {type(e).__name__}: {e})")
        return 1
    print("passes", flush=True)
    return 0


def fuzz(n: int, seed: int, out: Path, log=print, draws: int = 1) -> int:
    """Check `n` random networks drawn from `seed`, `draws` weight draws per topology and folding;
    returns the number of failures."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hypothesis_seed
    from hypothesis import strategies as st

    use_fast_harnesses()
    work, failures_dir = out / "work", out / "failures"
    work.mkdir(parents=True, exist_ok=True)
    timings = Timings()
    state = {"done": 0, "failed": 0}
    start = time.perf_counter()
    again = f"make fuzz SEED={seed} N={n}" + (f' ARGS="--draws {draws}"' if draws > 1 else "")
    log(f"fuzz: seed {seed}, {n} networks, {draws} weight draws per topology (reproduce: {again}); "
        f"failures under {failures_dir}")

    @hypothesis_seed(seed)
    @settings(max_examples=-(-n // draws), deadline=None, database=None, derandomize=False, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(topology=random_networks.topologies(), net_seed=st.integers(0, 2**16))
    def one(topology: Topology, net_seed: int) -> None:
        for draw in range(draws):
            if state["done"] >= n:
                return
            check_one(topology, net_seed + draw, net_seed)

    def check_one(topology: Topology, net_seed: int, fold_seed: int) -> None:
        index = state["done"]
        t0 = time.perf_counter()
        status = "ok"
        try:
            check_network(topology, net_seed, work, timings, fold_seed=fold_seed)
        except StageFailure as f:
            state["failed"] += 1
            failures_dir.mkdir(parents=True, exist_ok=True)
            path = failures_dir / f"seed{seed}-{index}.py"
            path.write_text(failure_text(topology, net_seed, f, f"run seed {seed}, network {index}", fold_seed))
            status = f"FAIL {f.stage} -> {path}"
            log(f"FAILURE at network {index}: {topology!r}, seed={net_seed}, fold_seed={fold_seed}\n"
                f"  {str(f).splitlines()[0]}")
        state["done"] += 1
        elapsed = time.perf_counter() - start
        rate = state["done"] / elapsed * 3600
        log(f"[{state['done']}/{n}] failures {state['failed']}, {rate:,.0f} networks/h, "
            f"this one {time.perf_counter() - t0:.1f}s: {status}")
        if state["done"] % 50 == 0:
            _prune_cache(work / "sim" / "obj", CACHE_ENTRIES)
            log(f"  time per network: {timings.summary(state['done'])}")

    one()
    elapsed = time.perf_counter() - start
    log(f"fuzz: {state['done']} networks in {elapsed:,.0f}s ({state['done'] / elapsed * 3600:,.0f}/h), "
        f"{state['failed']} failures, seed {seed}")
    log(f"  time per network: {timings.summary(state['done'])}")
    return state["failed"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bnnflow fuzz", description=__doc__.splitlines()[0])
    p.add_argument("-n", "--n", type=int, default=100, help="networks to check")
    p.add_argument("--seed", type=int, default=None, help="run seed (default: a fresh random one)")
    p.add_argument("--draws", type=int, default=1,
                   help="weight draws per topology and folding; they share one compiled harness")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="work folder; failures under OUT/failures")
    p.add_argument("--replay", type=Path, default=None, help="run one saved failure again")
    args = p.parse_args(argv)
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    if args.replay:
        use_fast_harnesses()
        return replay(args.replay, args.out / "work")
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    if args.n < 1 or args.draws < 1:
        p.error(f"--n and --draws must be at least 1 (got {args.n} and {args.draws})")
    failures = fuzz(args.n, seed, args.out, log=lambda s: print(s, flush=True), draws=args.draws)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

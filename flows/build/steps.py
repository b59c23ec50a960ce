"""The build: a config dataclass drives a list of steps, each a function of (model, config).

Every step writes its output under build/<model>-<board>/ atomically and
records a digest of what it was built from, so an interrupted or repeated
build skips the steps whose inputs did not change.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import signal
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.core.onnx_exec import execute_onnx

from models.checkpoint import load_model, read_checkpoint
from models.registry import model_info

from flows.build import fold as folding
from flows.backends.deploy import step_deploy
from flows.estimates.estimate import step_estimate
from flows.backends.finn import step_finn
from flows.build.report import step_report
from flows.backends.vivado import step_vivado
from flows.boards import Board, load_board
from flows.build.artefacts import (
    CYCLES_PLOT, DEPLOY, ESTIMATE, FINN, FOLDED, FOLDING_CONFIG, GOLDEN, GOLDEN_SUMMARY, HW, QONNX, REPORT,
    RESOURCES_PLOT, RTL, SIM_OUTPUTS, SIM_RESULTS, STREAMLINED, VIVADO, GoldenOutputs, accuracy,
)
from flows.build.folder import BuildFolder, locked
from flows.errors import BuildConfigError, FlowError
from flows.build.inputs import RANDOM_INPUTS, Inputs, dataset_inputs, random_inputs, read_data
from flows.frontend.check import check
from flows.frontend.cleanup import import_qonnx
from flows.frontend.export import export_qonnx
from flows.frontend.input_quant import hardware_codes, quantize_input
from flows.frontend.output_affine import accumulator_name, describe, output_rule, output_verdicts
from flows.fileio import atomic_path, load_onnx, save_onnx, write_json
from flows.sim.golden import run_golden
from flows.backends.rtlgen import generate_rtl
from flows.sim.rtlsim import compile_accelerator, default_workers, simulate, size_fifos
from flows.frontend.lower import lower_to_hw, score_node, to_hw_layout
from flows.frontend.streamline import INPUT_NAME, fixed_point_streams, streamline
from flows.paths import REPO

# Test images that FIFO sizing streams through the accelerator.
SIZING_IMAGES = 4
# The golden model runs the whole test set; the simulation takes its first N images.
TEST_IMAGES = 10_000
DEFAULT_SIM = 200
# How far the simulated cycles per image may exceed the folding's before the build says so: layers
# at the bottleneck's exact pace lose a few cycles to one another (binarydensenet_nobn: 5.6%).
RATE_TOLERANCE = 0.10
DEFAULT_VERIFY = 20  # inputs execute_onnx runs the export, streamlined and hardware graphs on
# A sanity bound, not a timing claim: no Zynq's fabric clock goes beyond it.
MAX_CLOCK_MHZ = 1000.0
# Everything a build can run or read as code: a change to any of it redoes every step. A hand-kept
# list per step went stale (editing streamline.py left that step "up to date").
CODE = ("flows/**/*.py", "flows/**/*.md", "models/**/*.py", "hw/**/*", "notebooks/*.ipynb")


def code_digest(root: Path = REPO) -> str:
    files = sorted({p for pattern in CODE for p in root.glob(pattern) if p.is_file() and "__pycache__" not in p.parts})
    return _digest(*[str(p.relative_to(root)) for p in files], *files)


@dataclass
class BuildConfig:
    model: str = ""  # a zoo model's name, or empty with `onnx`
    board: str = "Pynq-Z2"
    checkpoint: Path | None = None
    output_dir: Path | None = None
    clock_mhz: float | None = None
    target_fps: float = 1_000_000.0
    folding_config: Path | None = None
    # An automatic folding reaches target_fps, or (fit_board: no target) goes as fast as it can, as
    # long as its analytic estimate stays within max_utilisation of every board resource (LUT, FF,
    # BRAM36, DSP; the rest is headroom for routing and the shell); otherwise it is the fastest
    # folding that does.
    fit_board: bool = False
    max_utilisation: float = 0.85
    n_verify: int | None = None  # inputs execute_onnx checks the graph stages on; None: 20, or all where fewer
    n_sim: int | None = None  # inputs to simulate; None: DEFAULT_SIM, or every input where there are fewer
    data_dir: Path | None = None
    backend: str = "bnnflow"  # "finn" also writes a FINN build folder (and runs FINN where it can)
    # Resource estimate: "analytic" (the fitted model, instant; its measured error against Yosys is
    # printed with it) or "yosys" (every layer synthesised: the sign-off, with timing evidence; minutes).
    estimate: str = "analytic"
    estimates_only: bool = False  # report resources without stopping on a design that does not fit
    # FIFO depths: by rule from the dataflow (line-buffer fill lags, vector replays), which the RTL
    # simulation confirms at the folding's rate; True searches smaller ones by simulation (two more
    # Verilator compiles).
    size_fifos: bool = False
    onnx: Path | None = None  # a QONNX file to build instead of a zoo model
    data: Path | None = None  # its inputs (.npz: inputs, optional labels, classes); random ones without
    log: Callable[[str], None] = field(default=print, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.board_data: Board = load_board(self.board)
        if self.onnx is not None:
            self._configure_onnx()
        else:
            self._configure_zoo()
        if self.clock_mhz is None:
            self.clock_mhz = self.board_data.default_clock_mhz
        self._check_values()

    def _configure_onnx(self) -> None:
        self.onnx = Path(self.onnx)
        if self.checkpoint is not None:
            raise BuildConfigError("--onnx builds the graph in the file; it takes no --checkpoint")
        self.model = self.model or self.onnx.stem
        graph = load_onnx(self.onnx)  # a missing or broken file stops here, naming it
        check(self.onnx)  # so does a node the flow cannot build: the error is the table naming it
        self.input_shape = tuple(graph.get_tensor_shape(graph.graph.input[0].name)[1:])
        self.output_dir = Path(self.output_dir or REPO / "build" / f"{self.model}-{self.board_data.name}")
        self._data = read_data(Path(self.data), self.input_shape) if self.data is not None else None
        self.n_inputs = len(self._data) if self._data is not None else RANDOM_INPUTS

    def _configure_zoo(self) -> None:
        if self.data is not None:
            raise BuildConfigError("--data goes with --onnx; a zoo model is built on its dataset's test set")
        self.info = model_info(self.model)
        if not self.info.hardware:
            raise BuildConfigError(f"{self.model} is a real-valued teacher (for make train ARGS=\"--kd-teacher ...\"), "
                                   "not a binary network: it has no hardware build")
        self.input_shape = self.info.input_shape
        self.n_inputs = TEST_IMAGES
        if self.fit_board and self.folding_config is not None:
            raise BuildConfigError("--target-fps max chooses the folding; it excludes --folding-config")
        if not 0 < self.max_utilisation <= 1:
            raise BuildConfigError(f"--max-utilisation {self.max_utilisation:g} is not in (0, 1]")
        if self.checkpoint is None:
            self.checkpoint = REPO / "checkpoints" / f"{self.model}.pt"
        if not Path(self.checkpoint).is_file():
            raise BuildConfigError(
                f"no checkpoint for {self.model!r} at {self.checkpoint}; "
                f"train one with `make train MODEL={self.model}` or pass --checkpoint PATH (CHECKPOINT=path with make)"
            )
        read_checkpoint(self.checkpoint)  # a damaged or non-finite checkpoint stops here, not in a step
        self.output_dir = Path(self.output_dir or REPO / "build" / f"{self.model}-{self.board_data.name}")

    def _check_values(self) -> None:
        """Refuse out-of-range values before any step runs, naming the value and what is allowed."""
        if not (math.isfinite(self.clock_mhz) and 0 < self.clock_mhz <= MAX_CLOCK_MHZ):
            raise BuildConfigError(f"clock {self.clock_mhz:g} MHz is not in (0, {MAX_CLOCK_MHZ:g}] MHz")
        if not (math.isfinite(self.target_fps) and self.target_fps > 0):
            raise BuildConfigError(f"target {self.target_fps:g} FPS is not a positive finite number of images/s; "
                                   "for the fastest folding that fits, use TARGET_FPS=max")
        if self.n_sim is None:
            self.n_sim = min(DEFAULT_SIM, self.n_inputs)
        if self.n_verify is None:
            self.n_verify = min(DEFAULT_VERIFY, self.n_inputs)
        for name, value, most in (("inputs to simulate (N, --n-sim)", self.n_sim, self.n_inputs),
                                  ("inputs to verify the graph stages on", self.n_verify, self.n_inputs)):
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= most:
                raise BuildConfigError(f"{name}: {value!r} is not a whole number from 1 to {most:,}")
        if self.folding_config is not None:
            folding.read_folding_config(self.folding_config)

    @property
    def target_cycles(self) -> int:
        return 1 if self.fit_board else max(1, int(self.clock_mhz * 1e6 // self.target_fps))

    @property
    def fold_budget(self) -> dict | None:
        """What an automatic folding depends on besides the graph (None: a folding_config decides)."""
        if self.folding_config is not None:
            return None
        return {"board": self.board_data.name, "capacity": self.board_data.capacity,
                "max_utilisation": self.max_utilisation}

    def path(self, *parts: str) -> Path:
        return self.output_dir.joinpath(*parts)

    def inputs(self, streamlined: ModelWrapper) -> Inputs:
        """The float inputs the build checks and simulates, in order (see flows.build.inputs)."""
        if self.onnx is None:
            return dataset_inputs(self.info.dataset, self.data_dir)
        return self._data if self._data is not None else random_inputs(streamlined, self.input_shape)

    def settings(self) -> dict:
        d = {k: v for k, v in asdict(self).items() if k != "log"}
        return {k: str(v) if isinstance(v, Path) else v for k, v in d.items()}


def _digest(*items: object) -> str:
    h = hashlib.sha256()
    for item in items:
        if isinstance(item, Path):
            h.update(item.read_bytes() if item.is_file() else str(item).encode())
        else:
            h.update(json.dumps(item, sort_keys=True, default=str).encode())
    return h.hexdigest()


# -- steps -----------------------------------------------------------------------


def _verify_streamlined(qonnx: ModelWrapper, streamlined: ModelWrapper, x: np.ndarray, cfg: BuildConfig) -> None:
    """The streamlined graph on the input quantizer's codes against the exported graph on the float inputs:
    equal outputs where the output affine is exact in float, else the same class or an input the
    output rule names with its proven bound (flows.frontend.output_affine)."""
    exact = output_rule(streamlined) is None
    q_in, q_out, s_out = qonnx.graph.input[0].name, qonnx.graph.output[0].name, streamlined.graph.output[0].name
    named = []
    for i in range(len(x)):
        ref = execute_onnx(qonnx, {q_in: x[i:i + 1]})[q_out]
        ctx = execute_onnx(streamlined, {INPUT_NAME: quantize_input(streamlined, x[i:i + 1])},
                           return_full_exec_context=not exact)
        if exact:
            if not np.array_equal(ref, ctx[s_out]):
                raise FlowError(f"streamlining: outputs differ on input {i}: {ref.ravel()} vs {ctx[s_out].ravel()}")
            continue
        verdicts = output_verdicts(streamlined, ctx[accumulator_name(streamlined)])
        if verdicts:
            named += [{**v, "input": i} for v in verdicts]
        elif int(np.argmax(ref)) != int(np.argmax(ctx[s_out])):
            raise FlowError(f"streamlining: class differs on input {i}: {int(np.argmax(ref))} vs "
                            f"{int(np.argmax(ctx[s_out]))}, and the output rule names no bound for it")
    how = "outputs equal" if exact else "classes equal under the output rule"
    cfg.log(f"  execute_onnx: streamlined == QONNX on {len(x)} inputs ({how})")
    for line in describe(named).splitlines():
        cfg.log(f"  float rounding could change the class of {line}")


def step_export(model: ModelWrapper | None, cfg: BuildConfig) -> ModelWrapper:
    if cfg.onnx is not None:
        cfg.log(f"  {cfg.onnx}")
        return import_qonnx(cfg.onnx)
    torch_model, meta = load_model(cfg.checkpoint, cfg.model)
    cfg.log(f"  checkpoint {cfg.checkpoint} (test accuracy {meta.get('test_accuracy', 'n/a')})")
    return export_qonnx(torch_model, cfg.info.input_shape)


def step_streamline(model: ModelWrapper, cfg: BuildConfig) -> ModelWrapper:
    out = streamline(model)
    _verify_streamlined(model, out, cfg.inputs(out).x[:cfg.n_verify], cfg)
    for s in fixed_point_streams(out):
        exact = "exact" if s["error_bound"] == 0 else f"error <= {s['error_bound']:.3g}"
        cfg.log(f"  residual stream {s['node']}: {s['bits']} bits, step {s['scale']}, {exact}")
    return out


def step_lower(model: ModelWrapper, cfg: BuildConfig) -> ModelWrapper:
    hw = lower_to_hw(model)
    x = cfg.inputs(model).x[:cfg.n_verify]
    golden = run_golden(hw, to_hw_layout(hardware_codes(model, x)))[hw.graph.output[0].name][:, 0]
    for i in range(len(x)):
        scores = execute_onnx(model, {INPUT_NAME: quantize_input(model, x[i:i + 1])})[model.graph.output[0].name]
        if int(np.argmax(scores)) != golden[i]:
            raise FlowError(f"lowering: class differs on input {i}")
    cfg.log(f"  golden(hardware graph) class == streamlined class on {len(x)} inputs")
    return hw


def _fold_to_board(model: ModelWrapper, cfg: BuildConfig) -> ModelWrapper:
    """The automatic folding for the target, or the fastest slower one whose analytic estimate
    fits max_utilisation of the board."""
    board = cfg.board_data
    goal = "as fast as fits" if cfg.fit_board else f"target {cfg.target_fps:,.0f} FPS ({cfg.target_cycles:,} cycles)"
    cfg.log(f"  {goal}; fitting to {board.name}: every resource <= {cfg.max_utilisation:.0%} of its capacity "
            "(analytic estimate of the generated RTL)")
    fit = folding.AnalyticFit(board, cfg.max_utilisation)

    def fits(m: ModelWrapper) -> bool:
        ok = fit(m)
        cfg.log(f"    {folding.bottleneck_cycles(m):>11,} cycles: {fit.describe(m)}{'' if ok else '  over'}")
        return ok

    target = folding.bottleneck_cycles(folding.auto_fold(model, cfg.target_cycles))
    model = folding.fold_to_budget(model, fits, cfg.target_cycles, settle=fit.settle)
    cycles = folding.bottleneck_cycles(model)
    if cycles > target:
        cfg.log(f"  the target folding ({target:,} cycles) does not fit {board.name}")
    cfg.log(f"  chose {cycles:,} cycles per image = {cfg.clock_mhz * 1e6 / cycles:,.0f} FPS at "
            f"{cfg.clock_mhz:g} MHz; estimated {fit.describe(model)}")
    return model


def step_fold(model: ModelWrapper, cfg: BuildConfig) -> ModelWrapper:
    if cfg.folding_config is not None:
        model = folding.apply_folding_config(model, cfg.folding_config)
        if not folding.names_weight_styles(cfg.folding_config):
            folding.AnalyticFit(cfg.board_data, cfg.max_utilisation).settle(model)
    else:
        model = _fold_to_board(model, cfg)
    folding.write_folding_config(model, cfg.path(FOLDING_CONFIG))
    for f in folding.layer_folds(model):
        pe = f"PE {f.pe:4d}" if f.pe else " " * 7
        simd = f"SIMD {f.simd:4d}" if f.simd else " " * 9
        rom = "  weights in LUTs" if f.weight_style == "logic" else ""
        cfg.log(f"  {f.name:20s} {pe} {simd} {f.cycles:8d} cycles{rom}")
    cfg.log(f"  predicted {folding.predicted_fps(model, cfg.clock_mhz):,.0f} FPS at {cfg.clock_mhz:g} MHz")
    return model


def _percent(acc: float | None) -> str:
    return "n/a (no labels)" if acc is None else f"{acc:.2%}"


def _compact(codes: np.ndarray) -> np.ndarray:
    """Integer codes in the narrowest numpy type that holds them (pixel bytes stay uint8)."""
    for t in (np.uint8, np.int8, np.int16, np.int32):
        if codes.min() >= np.iinfo(t).min and codes.max() <= np.iinfo(t).max:
            return codes.astype(t)
    return codes.astype(np.int64)


def step_golden(model: ModelWrapper, cfg: BuildConfig) -> ModelWrapper:
    streamlined = load_onnx(cfg.path(STREAMLINED))  # it holds the input quantizer the host applies
    inputs = cfg.inputs(streamlined)
    images = _compact(hardware_codes(streamlined, inputs.x))
    labels = inputs.labels if inputs.labels is not None else np.full(len(inputs), -1, dtype=np.int64)
    t0 = time.perf_counter()
    score_tensor = score_node(model).output[0]
    ctx = run_golden(model, to_hw_layout(images), extra=(score_tensor,))
    seconds = time.perf_counter() - t0
    pred = ctx[model.graph.output[0].name][:, 0]
    scores = ctx[score_tensor]
    n_classes = scores.reshape(len(scores), -1).shape[1]
    if inputs.classes is not None and len(inputs.classes) != n_classes:
        raise BuildConfigError(f"DATA {cfg.data}: 'classes' names {len(inputs.classes)} classes, "
                               f"the network has {n_classes}")
    if inputs.labels is not None and inputs.labels.max() >= n_classes:
        raise BuildConfigError(f"DATA {cfg.data}: 'labels' holds {int(inputs.labels.max())}, "
                               f"the network has {n_classes} classes (0 to {n_classes - 1})")
    golden = GoldenOutputs(images=images, labels=labels, pred=pred, scores=scores, classes=inputs.classes)
    golden.save(cfg.path(GOLDEN))
    write_json(cfg.path(GOLDEN_SUMMARY), {"images": len(images), "accuracy": golden.accuracy, "seconds": seconds})
    cfg.log(f"  golden model: {_percent(golden.accuracy)} on {len(images)} inputs ({len(images) / seconds:,.0f} inputs/s)")
    return model


def step_rtl(model: ModelWrapper, cfg: BuildConfig) -> ModelWrapper:
    manifest = generate_rtl(model, cfg.path(RTL))
    cfg.log(f"  {len(manifest['verilog'])} Verilog files, {len(manifest['memory_files'])} memory files in rtl/")
    if cfg.size_fifos:
        t0 = time.perf_counter()
        images = to_hw_layout(GoldenOutputs.load(cfg.path(GOLDEN)).images[:SIZING_IMAGES])
        depths = size_fifos(model, cfg.path(RTL), images)
        cfg.log(f"  FIFO depths from simulated peaks: {sum(depths.values()):,} words in {len(depths)} links "
                f"({time.perf_counter() - t0:.0f} s)")
    return model


def _progress_lines(cfg: BuildConfig, unit: str, every_s: float = 10.0) -> Callable[[int, int], None]:
    """A progress callback that logs (done, total) at most every `every_s` seconds, with an ETA."""
    start = last = time.perf_counter()

    def report(done: int, total: int) -> None:
        nonlocal last
        now = time.perf_counter()
        if done and now - last >= every_s:
            last = now
            left = (now - start) * (total - done) / done
            cfg.log(f"    {done:,}/{total:,} {unit} ({now - start:.0f} s, about {left:.0f} s left)")

    return report


def step_rtlsim(model: ModelWrapper, cfg: BuildConfig) -> ModelWrapper:
    golden = GoldenOutputs.load(cfg.path(GOLDEN))
    n = min(cfg.n_sim, len(golden.labels))
    images, labels, expected = golden.images[:n], golden.labels[:n], golden.pred[:n]
    t0 = time.perf_counter()
    compile_accelerator(cfg.path(RTL))
    workers = default_workers(n)
    cfg.log(f"  compiled with Verilator in {time.perf_counter() - t0:.1f} s; simulating {n} test images"
            + (f" in {workers} harness processes" if workers > 1 else ""))
    t0 = time.perf_counter()
    res = simulate(cfg.path(RTL), to_hw_layout(images), progress=_progress_lines(cfg, "images"), workers=workers)
    seconds = time.perf_counter() - t0
    with atomic_path(cfg.path(SIM_OUTPUTS)) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, outputs=res.outputs, in_cycles=res.in_cycles, out_cycles=res.out_cycles)
    pred = res.outputs[:, 0]
    bad = np.flatnonzero(pred != expected)
    if bad.size:
        i = int(bad[0])
        raise FlowError(f"RTL simulation differs from the golden model on {bad.size} of {n} images "
                        f"(first: image {i}, RTL {pred[i]}, golden {expected[i]})")
    predicted = max(f.cycles for f in folding.layer_folds(model))
    acc = accuracy(pred, labels)
    result = {
        "images": n, "accuracy": acc, "golden_accuracy": accuracy(expected, labels),
        "cycles_per_image": res.cycles_per_image, "predicted_cycles_per_image": predicted,
        "latency_cycles": res.latency, "total_cycles": res.cycles, "seconds": seconds,
        "fps_at_clock": cfg.clock_mhz * 1e6 / res.cycles_per_image, "clock_mhz": cfg.clock_mhz,
    }
    write_json(cfg.path(SIM_RESULTS), result)
    cfg.log(f"  RTL == golden on all {n} inputs; RTL accuracy {_percent(acc)}")
    cfg.log(f"  {res.cycles_per_image:.1f} cycles per image (folding predicts {predicted}), latency {res.latency} "
            f"cycles, {result['fps_at_clock']:,.0f} FPS at {cfg.clock_mhz:g} MHz "
            f"({res.cycles / seconds / 1e6:.1f} M simulated cycles/s)")
    slower = res.cycles_per_image / predicted - 1
    if n >= 2 and slower > RATE_TOLERANCE:
        cfg.log(f"  the simulated rate is {slower:.0%} under the folding's"
                + ("" if cfg.size_fifos else "; --size-fifos sizes the FIFOs by simulation instead of by rule"))
    return model


@dataclass(frozen=True)
class Step:
    """A build step; `output` is the graph it writes (None: it passes the graph through)."""

    name: str
    run: Callable[[ModelWrapper, BuildConfig], ModelWrapper]
    output: str | None
    settings: tuple[str, ...] = ()
    # Files and folders the step writes besides its graph; nothing else writes them.
    extra_outputs: tuple[str, ...] = ()

    @property
    def outputs(self) -> tuple[str, ...]:
        return ((self.output,) if self.output else ()) + self.extra_outputs


STEPS: list[Step] = [
    Step("export", step_export, QONNX, ("model",)),
    Step("streamline", step_streamline, STREAMLINED, ("n_verify", "data")),
    Step("lower", step_lower, HW, ("n_verify", "data")),
    Step("fold", step_fold, FOLDED, ("target_cycles", "folding_config", "fold_budget"), (FOLDING_CONFIG,)),
    Step("golden", step_golden, None, ("data",), (GOLDEN, GOLDEN_SUMMARY)),
    Step("rtl", step_rtl, None, ("size_fifos",), (RTL,)),
    Step("estimate", step_estimate, None, ("board", "estimate", "estimates_only"), (ESTIMATE,)),
    Step("rtlsim", step_rtlsim, None, ("n_sim",), (SIM_RESULTS, SIM_OUTPUTS)),
    Step("vivado", step_vivado, None, ("board", "clock_mhz"), (VIVADO,)),
    Step("deploy", step_deploy, None, ("clock_mhz",), (DEPLOY,)),
    Step("finn", step_finn, None, ("board", "clock_mhz", "target_fps", "backend"), (FINN,)),
    Step("report", step_report, None, ("board", "clock_mhz", "n_sim", "estimate", "backend"),
         (REPORT, CYCLES_PLOT, RESOURCES_PLOT)),
]


def run_build(cfg: BuildConfig, steps: list[Step] | None = None) -> ModelWrapper:
    """Run `steps` (all by default) into cfg.output_dir, skipping those whose record proves them
    done; see build_folder for what a folder may hold at any moment."""
    steps = STEPS if steps is None else steps
    with locked(cfg.output_dir) as folder:
        model = _run_steps(cfg, steps, folder)
        folder.complete(cfg.settings())
    return model


def _run_steps(cfg: BuildConfig, steps: list[Step], folder: BuildFolder) -> ModelWrapper:
    model: ModelWrapper | None = None
    source = Path(cfg.onnx or cfg.checkpoint)
    chain = code_digest()  # every step chains on it: new code redoes the whole build
    rerun = False  # once a step runs, every later one runs too: their inputs are new
    for i, step in enumerate(steps, 1):
        settings = {k: getattr(cfg, k) for k in step.settings}
        digest = _digest(step.name, chain, source, settings, *[v for v in settings.values() if isinstance(v, Path)])
        t0 = time.perf_counter()
        if not rerun and folder.fresh(step.name, digest):
            cfg.log(f"[{i}/{len(steps)}] {step.name}: up to date")
            model = None
        else:
            if not rerun:
                rest = steps[i - 1:]
                folder.discard([s.name for s in rest], [o for s in rest for o in s.outputs])
                rerun = True
            cfg.log(f"[{i}/{len(steps)}] {step.name}")
            if model is None and source.suffix == ".onnx":
                model = load_onnx(source)
            _fault_point(step.name, "start")
            model = step.run(model, cfg)
            if step.output:
                save_onnx(model, cfg.path(step.output))
            _fault_point(step.name, "written")
            folder.record(step.name, digest, step.outputs)
            cfg.log(f"  done in {time.perf_counter() - t0:.1f} s")
        chain = folder.chain(step.name)
        if step.output:
            source = cfg.path(step.output)
    return model if model is not None else load_onnx(source)


def _fault_point(step: str, when: str) -> None:
    """The fault-injection seam of tests/test_fault_injection.py: BNNFLOW_FAULT=<step>:<when>:<signal>
    sends the signal (KILL, INT) to this process at that point of that step."""
    spec = os.environ.get("BNNFLOW_FAULT")
    if spec and spec.rsplit(":", 1)[0] == f"{step}:{when}":
        os.kill(os.getpid(), getattr(signal, "SIG" + spec.rsplit(":", 1)[1]))

"""Design-space exploration (flows.dse) on a two-worker Dask LocalCluster: tfc_w1a1_nobn, analytic
estimate, three points on one board plus one point whose folding file is illegal."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from flows.dse.points import Point, spread
from flows.dse.report import COLUMNS, pareto_front, read_csv
from flows.errors import BuildConfigError

MODEL = "tfc_w1a1_nobn"
POINTS = 3


@pytest.fixture(scope="module")
def client():
    from dask.distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                           silence_logs=40)
    c = Client(cluster)
    yield c
    c.close()
    cluster.close()


@pytest.fixture(scope="module")
def sweep(tmp_path_factory, client):
    """The sweep run once: (config, summary, log lines, the failing point)."""
    from flows.dse.run import DseConfig, run_dse

    root = tmp_path_factory.mktemp("dse")
    lines: list[str] = []
    cfg = DseConfig(model=MODEL, boards=["Pynq-Z2"], estimate="analytic", max_points=POINTS, output_dir=root,
                    log=lines.append)
    bad_file = root / "bad_folding.json"
    bad_file.write_text(json.dumps({"Defaults": {}, "MVTU_0": {"PE": 3}}))  # 3 divides no MVTU_0 size
    bad = Point(model=MODEL, board="Pynq-Z2", folding_id="bad", cycles=1, folding_file=str(bad_file),
                point_dir=str(root / "points" / "Pynq-Z2-bad"), base_dir=str(root / "base"), checkpoint=None,
                estimate="analytic", n_sim=0, size_fifos=False)
    summary = run_dse(cfg, client=client, extra_points=[bad])
    return cfg, summary, lines, bad


def test_csv_has_the_points_and_columns(sweep):
    cfg, summary, lines, _ = sweep
    rows = read_csv(cfg.path("results.csv"))
    assert tuple(rows[0].keys()) == COLUMNS
    ok = [r for r in rows if r["status"] == "ok"]
    assert len(rows) == POINTS + 1 and len(ok) == POINTS
    cycles = sorted(int(r["cycles"]) for r in ok)
    # From the fastest folding that fits down to the slowest candidate, all distinct.
    assert len(set(cycles)) == POINTS
    for r in ok:
        assert r["board"] == "Pynq-Z2" and r["estimate"] == "analytic" and r["fits"] == "True"
        assert float(r["fps"]) == pytest.approx(float(r["clock_mhz"]) * 1e6 / int(r["cycles"]))
        assert float(r["LUT"]) > 0 and Path(r["folding_file"]).is_file()
        assert json.loads((Path(r["point_dir"]) / "point.json").read_text())["status"] == "ok"
    assert summary["ok"] == POINTS and summary["failed"] == 1
    assert any("dashboard" in line for line in lines)
    assert cfg.path("pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "FPS = 100 MHz / " in cfg.path("report.md").read_text()


def test_failing_point_is_recorded_and_the_sweep_goes_on(sweep):
    cfg, _, lines, bad = sweep
    row = next(r for r in read_csv(cfg.path("results.csv")) if r["folding_id"] == "bad")
    assert row["status"] == "failed"
    assert "PE=3" in row["error"] and "\n" not in row["error"]
    assert any("Pynq-Z2-bad: FAILED" in line for line in lines)
    assert "Pynq-Z2-bad" in cfg.path("report.md").read_text()


def test_a_points_folding_file_rebuilds_to_the_same_cycles(sweep, tmp_path):
    from flows.build import fold as folding
    from flows.build.steps import STEPS, BuildConfig, run_build

    cfg, *_ = sweep
    row = next(r for r in read_csv(cfg.path("results.csv")) if r["status"] == "ok")
    build = BuildConfig(model=MODEL, board="Pynq-Z2", folding_config=Path(row["folding_file"]),
                        output_dir=tmp_path / "rebuild", estimate="analytic", log=lambda line: None)
    model = run_build(build, [s for s in STEPS if s.name in ("export", "streamline", "lower", "fold")])
    assert folding.bottleneck_cycles(model) == int(row["cycles"])
    point_folding = Path(row["point_dir"]) / "folding_config.json"
    assert json.loads(build.path("folding_config.json").read_text()) == json.loads(point_folding.read_text())


def test_rerun_skips_finished_points(sweep, client):
    from flows.dse.run import DseConfig, run_dse

    cfg, _, _, bad = sweep
    records = {p: (p / "point.json").stat().st_mtime_ns for p in cfg.path("points").iterdir()}
    lines: list[str] = []
    again = DseConfig(model=MODEL, boards=["Pynq-Z2"], estimate="analytic", max_points=POINTS,
                      output_dir=cfg.output_dir, log=lines.append)
    summary = run_dse(again, client=client, extra_points=[bad])
    assert summary["skipped"] == POINTS and summary["ran"] == 1  # only the failed point runs again
    for p, mtime in records.items():
        if p.name != "Pynq-Z2-bad":
            assert (p / "point.json").stat().st_mtime_ns == mtime
    assert len(read_csv(cfg.path("results.csv"))) == POINTS + 1


def test_pareto_front_of_a_small_table():
    # (cost, FPS): b dominates a (cheaper, as fast); d is dominated by c; e ties c exactly.
    table = [(10, 100), (8, 100), (20, 500), (25, 400), (20, 500), (30, 1000), (5, 10)]
    assert pareto_front(table) == [False, True, True, False, True, True, True]
    assert pareto_front([]) == []
    assert pareto_front([(1, 1)]) == [True]


def test_spread_keeps_both_ends():
    assert spread(list(range(10)), 4) == [0, 3, 6, 9]
    assert spread(list(range(3)), 5) == [0, 1, 2]
    assert spread(list(range(10)), 0) == list(range(10))


def test_bad_settings_stop_before_any_work(tmp_path):
    from flows.dse.run import DseConfig

    with pytest.raises(BuildConfigError, match="unknown board"):
        DseConfig(model=MODEL, boards=["Pynq-Z3"], output_dir=tmp_path)
    with pytest.raises(BuildConfigError, match="SIM"):
        DseConfig(model=MODEL, boards=["Pynq-Z2"], n_sim=-1, output_dir=tmp_path)


def test_plot_of_a_sweep_with_no_built_point(tmp_path):
    from flows.boards import load_board
    from flows.dse.plot import plot_pareto

    failed = [{"board": "Pynq-Z2", "folding_id": "c1", "status": "failed", "error": "E", "estimate": "analytic"}]
    plot_pareto(failed, {"Pynq-Z2": load_board("Pynq-Z2").capacity}, tmp_path / "p.png")
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"

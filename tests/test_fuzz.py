"""`make fuzz` (flows/testing/fuzz.py): random networks through the flow and the RTL, failures saved and replayable."""
import numpy as np
import pytest

from flows.testing import fuzz
from flows.testing.random_networks import Conv, Topology

TINY = Topology(in_channels=1, side=4, batchnorm=False, blocks=((Conv(3, 3, 1, 0.0), True),),
                pooled_head=False, hidden=None, classes=3)


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    """One work folder (one harness cache) for the module's tests."""
    return tmp_path_factory.mktemp("fuzz")


@pytest.mark.slow
def test_two_networks_with_a_fixed_seed(out, capsys):
    assert fuzz.main(["-n", "2", "--seed", "7", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "fuzz: seed 7, 2 networks, 1 weight draws per topology (reproduce: make fuzz SEED=7 N=2)" in text
    assert "[1/2] failures 0" in text and "[2/2] failures 0" in text
    assert "fuzz: 2 networks in" in text and "time per network: brevitas" in text
    assert not (out / "failures").exists()


@pytest.mark.slow
def test_rtl_that_differs_from_golden_is_a_failure(out, monkeypatch):
    """The RTL check is live: one wrong integer out of the simulation fails the network."""
    from flows.sim import rtlsim

    fuzz.use_fast_harnesses()
    real = rtlsim.simulate

    def off_by_one(*args, **kwargs):
        res = real(*args, **kwargs)
        res.outputs[0, 0] += 1
        return res

    fuzz.check_network(TINY, 5, out / "work")
    monkeypatch.setattr(rtlsim, "simulate", off_by_one)
    with pytest.raises(fuzz.StageFailure, match=r"rtl: RTL integers differ .* 1 of 64 images differ; image 0"):
        fuzz.check_network(TINY, 5, out / "work")


def test_golden_that_differs_from_brevitas_is_a_failure(monkeypatch):
    from flows.sim import golden

    real = golden.run_golden

    def flipped(hw, x, keep_all=False):
        ctx = real(hw, x, keep_all)
        ctx[hw.graph.output[0].name][:, 0] = (ctx[hw.graph.output[0].name][:, 0] + 1) % TINY.classes
        return ctx

    monkeypatch.setattr(golden, "run_golden", flipped)
    with pytest.raises(fuzz.StageFailure, match="golden: labels differ from Brevitas' argmax: 64 of 64"):
        fuzz.check_network(TINY, 5, None, rtl=False)


def test_a_failure_is_saved_reproducibly_and_the_run_goes_on(tmp_path, monkeypatch, capsys):
    seen = []

    def first_fails(topology, seed, work, timings=None, fold_seed=None):
        seen.append((topology, seed, fold_seed))
        if len(seen) == 1:
            raise fuzz.StageFailure("rtl", "RTL integers differ from the golden model's: made up")

    monkeypatch.setattr(fuzz, "check_network", first_fails)
    assert fuzz.main(["-n", "3", "--seed", "11", "--out", str(tmp_path)]) == 1
    assert len(seen) == 3
    text = capsys.readouterr().out
    assert "[3/3] failures 1" in text and "FAILURE at network 0" in text
    saved = tmp_path / "failures" / "seed11-0.py"
    assert fuzz.load_failure(saved) == seen[0]
    assert "stage rtl" in saved.read_text() and "# rtl: RTL integers differ" in saved.read_text()
    # The same seed draws the same networks again.
    seen.clear()
    fuzz.main(["-n", "3", "--seed", "11", "--out", str(tmp_path / "again")])
    assert fuzz.load_failure(saved) == seen[0]
    assert np.all([isinstance(t, Topology) for t, _, _ in seen])


def test_draws_share_topology_and_folding_and_vary_the_weights(tmp_path, monkeypatch, capsys):
    seen = []
    monkeypatch.setattr(fuzz, "check_network",
                        lambda topology, seed, work, timings=None, fold_seed=None: seen.append((topology, seed, fold_seed)))
    assert fuzz.main(["-n", "5", "--draws", "3", "--seed", "3", "--out", str(tmp_path)]) == 0
    assert len(seen) == 5
    (t0, s0, f0), (t3, s3, f3) = seen[0], seen[3]
    assert [x[:1] + x[2:] for x in seen[:3]] == [(t0, f0)] * 3 and [x[1] for x in seen[:3]] == [s0, s0 + 1, s0 + 2]
    assert seen[4][0] == t3 and seen[4][1:] == (s3 + 1, f3)
    assert 'make fuzz SEED=3 N=5 ARGS="--draws 3"' in capsys.readouterr().out


def test_draws_below_one_are_refused(tmp_path, capsys):
    with pytest.raises(SystemExit):
        fuzz.main(["-n", "5", "--draws", "0", "--out", str(tmp_path)])
    assert "--draws must be at least 1" in capsys.readouterr().err

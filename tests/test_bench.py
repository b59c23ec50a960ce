"""make bench: both executors agree and the table has a row per model (tiny sizes)."""
from flows.bench import golden as bench


def test_bench_prints_ratios_and_the_build_folding(capsys):
    assert bench.main(["--batch", "20", "--qonnx-images", "2", "--models", "tfc_w1a1_nobn"]) == 0
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line.startswith("tfc_w1a1_nobn")]
    assert len(rows) == 2
    ratios = [float(v.rstrip("x").replace(",", "")) for v in rows[0] if v.endswith("x")]
    assert len(ratios) == 2 and all(r > 1 for r in ratios)
    # The folding make build would choose: 98 cycles, within the Pynq-Z2 budget.
    assert rows[1][1:4] == ["98", "MVTU_0", "1,020,408"]
    assert "within 85% of its resources" in out

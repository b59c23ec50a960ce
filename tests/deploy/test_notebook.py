"""The inference notebook runs clean, headless, on the virtual board."""
import nbformat
from nbclient import NotebookClient

from flows.backends.deploy import NOTEBOOK


def test_notebook_runs_on_virtual_board(deploy_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("BNNFLOW_VIRTUAL_BOARD", "1")
    monkeypatch.setenv("BNNFLOW_DEPLOY_DIR", str(deploy_dir))
    monkeypatch.delenv("MPLBACKEND", raising=False)  # ipykernel's inline backend captures the figures
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "device: Pynq-Z2 (virtual)" in text
    assert "agreement with the golden model: 1000/1000" in text
    assert "class names: T-shirt/top, Trouser, Pullover" in text
    assert "throughput[images/s]" in text and "simulated:" in text
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(images) == 2  # the image grid and the confusion matrix

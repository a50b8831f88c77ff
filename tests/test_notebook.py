"""The notebook example runs in a real Jupyter kernel (this Python's, through a kernel spec
written for the test): no errors, the widget is rendercanvas's anywidget canvas and draws
the app, and the snapshot is a picture of the scene."""

import base64
import io
import json
import os
import re
import sys
from pathlib import Path

import numpy as np
import pytest

NOTEBOOK = Path(__file__).parent / "notebooks" / "explorer.ipynb"
SNAPSHOT_COPY = Path(os.environ.get("DEXPLORER_NOTEBOOK_SNAPSHOT", "/tmp/notebook-snapshot.png"))
"""Where the notebook's snapshot is saved to be looked at."""


@pytest.fixture
def kernel(tmp_path, monkeypatch):
    """A kernel spec named for the test that runs this Python with the code under test."""
    spec = tmp_path / "kernels" / "dexplorer-test"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    spec.joinpath("kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": "dexplorer test", "language": "python"})
    )
    root = str(Path(__file__).parents[1])
    path = os.environ.get("PYTHONPATH", "")
    monkeypatch.setenv("PYTHONPATH", f"{root}{os.pathsep}{path}" if path else root)
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))
    return "dexplorer-test"


def outputs_of(cell) -> list[dict]:
    return [output for output in cell.outputs if output.output_type != "stream"]


def test_the_notebook_shows_the_widget_and_a_snapshot(kernel):
    pytest.importorskip("pygfx")
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    import imageio.v3 as iio

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        notebook, kernel_name=kernel, timeout=300, store_widget_state=True
    )
    client.execute()
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    errors = [o for cell in code for o in cell.outputs if o.output_type == "error"]
    assert not errors

    (widget,) = outputs_of(code[1])
    view = widget.data["application/vnd.jupyter.widget-view+json"]
    state = notebook.metadata.widgets["application/vnd.jupyter.widget-state+json"]["state"]
    model = state[view["model_id"]]
    assert (model["model_module"], model["model_name"]) == ("anywidget", "AnyModel")
    assert "renderview" in model["state"]["_esm"]  # rendercanvas's view script
    assert "RenderCanvas" in widget.data["text/plain"]

    (frame,) = outputs_of(code[2])  # the widget's own frame, drawn by the app on it
    encoded = re.search(r"base64,([^']+)'", frame.data["text/html"]).group(1)
    drawn = iio.imread(io.BytesIO(base64.b64decode(encoded)))
    assert drawn.shape[:2] == (400, 640) and drawn.std() > 20

    (picture,) = outputs_of(code[3])
    png = base64.b64decode(picture.data["image/png"])
    image = iio.imread(io.BytesIO(png))
    assert image.shape[:2] == (240, 320)
    assert image.std() > 20 and len(np.unique(image.reshape(-1, image.shape[-1]), axis=0)) > 50
    SNAPSHOT_COPY.write_bytes(png)

    (shape,) = outputs_of(code[4])
    assert shape.data["text/plain"] == "torch.Size([11, 1000, 2])"

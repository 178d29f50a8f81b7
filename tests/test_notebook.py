"""notebooks/compare.ipynb, executed top to bottom on the demo model in a real Jupyter kernel."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "compare.ipynb"


def test_notebook_is_kept_free_of_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)
    assert "MODEL = None" in code[0].source and "ADAPTER = None" in code[0].source


@pytest.mark.slow
def test_notebook_runs_top_to_bottom(fixture_lora, tmp_path):
    from nbclient import NotebookClient

    from grpo_compare.demo import demo_adapter_path

    nb = nbformat.read(NOTEBOOK, as_version=4)
    out = tmp_path / "run"
    # Like papermill's injected parameters: a cell after the settings cell.
    params = f"OUTPUT_DIR = {str(out)!r}"
    if not (demo_adapter_path() / "adapter_config.json").is_file():
        params += f"\nADAPTER = {str(fixture_lora)!r}  # no demo adapter shipped in this checkout"
    settings = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
    nb.cells.insert(settings + 1, nbformat.v4.new_code_cell(params))
    NotebookClient(nb, timeout=900, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()

    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "\n".join(o.get("text", "") + o.get("data", {}).get("text/plain", "") for o in outputs)
    assert "McNemar" in text and "8 problems" in text
    svgs = [o for o in outputs if "image/svg+xml" in o.get("data", {})]
    assert len(svgs) >= 4  # accuracy, format, rewards, lengths
    html = [o.data["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    assert any("<table" in h and "outcome" in h for h in html)  # the DataFrame
    assert any('class="arms"' in h for h in html)  # one problem side by side
    assert (out / "report.html").is_file() and (out / "comparison.csv").is_file()

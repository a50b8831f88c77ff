"""Print the corpus table: case, exit code, message (``PYTHONPATH=tests python -m corpus``)."""

import tempfile
from pathlib import Path

from . import cases, run

for case in cases():
    with tempfile.TemporaryDirectory() as folder:
        result = run(case, Path(folder))
    print(f"| {case.name} | {result.code} | {result.line} |")

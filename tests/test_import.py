"""Importing e2etune and its framework-free core never loads TensorFlow."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "module",
    ["e2etune", "e2etune.engine.hyperparameters", "e2etune.engine.trial", "e2etune.engine.objective"],
)
def test_import_does_not_load_tensorflow(module):
    code = (
        f"import {module}, sys; "
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')); "
        "assert not loaded, loaded"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr

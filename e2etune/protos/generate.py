"""Regenerates the Python code of the protobuf schema.

Run `python -m e2etune.protos.generate` after editing `e2etune.proto`; it
needs `grpcio-tools` (installed with the `test` extra).
"""

from __future__ import annotations

import pathlib
import subprocess
import sys

PROTO_DIR = pathlib.Path(__file__).resolve().parent
PROTO_FILE = "e2etune.proto"


def generate(out_dir: pathlib.Path | str = PROTO_DIR) -> pathlib.Path:
    """Writes `e2etune_pb2.py` for the schema into `out_dir` and returns its path."""
    out_dir = pathlib.Path(out_dir)
    # protoc runs in its own process: in a process that has loaded TensorFlow,
    # whose protobuf symbols clash with grpc_tools', an in-process run crashes.
    result = subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{PROTO_DIR}", f"--python_out={out_dir}",
         str(PROTO_DIR / PROTO_FILE)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"protoc failed with status {result.returncode} on {PROTO_FILE}: {result.stderr.strip()}"
        )
    return out_dir / "e2etune_pb2.py"


if __name__ == "__main__":
    print(generate(pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else PROTO_DIR))

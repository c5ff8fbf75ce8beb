"""Regenerates the Python code of the protobuf schemas.

Run `python -m e2etune.protos.generate` after editing `e2etune.proto` or
`service.proto`; it needs `grpcio-tools` (installed with the `test` extra).
It writes `e2etune_pb2.py` (the saved state of a search), `service_pb2.py`
and `service_pb2_grpc.py` (the chief's gRPC service, which imports the
former as `e2etune.protos.e2etune_pb2`).
"""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

PROTO_DIR = pathlib.Path(__file__).resolve().parent
PROTO_FILE = "e2etune.proto"
SERVICE_FILE = "service.proto"
#: The modules generated from the schemas, in the order `generate` writes them.
GENERATED = ("e2etune_pb2.py", "service_pb2.py", "service_pb2_grpc.py")
# protoc writes imports of sibling modules as top-level ones; ours live in the package.
_SIBLING_IMPORT = re.compile(r"^import (e2etune_pb2|service_pb2) as ", re.MULTILINE)


def _protoc(out_dir: pathlib.Path, proto: str, *outputs: str) -> None:
    # protoc runs in its own process: in a process that has loaded TensorFlow,
    # whose protobuf symbols clash with grpc_tools', an in-process run crashes.
    result = subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{PROTO_DIR}",
         *(f"--{kind}_out={out_dir}" for kind in outputs), str(PROTO_DIR / proto)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"protoc failed with status {result.returncode} on {proto}: {result.stderr.strip()}"
        )


def generate(out_dir: pathlib.Path | str = PROTO_DIR) -> pathlib.Path:
    """Writes the modules of `GENERATED` into `out_dir`; returns the path of `e2etune_pb2.py`."""
    out_dir = pathlib.Path(out_dir)
    _protoc(out_dir, PROTO_FILE, "python")
    _protoc(out_dir, SERVICE_FILE, "python", "grpc_python")
    for name in GENERATED[1:]:
        path = out_dir / name
        path.write_text(_SIBLING_IMPORT.sub(r"from e2etune.protos import \1 as ", path.read_text()))
    return out_dir / "e2etune_pb2.py"


if __name__ == "__main__":
    folder = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else PROTO_DIR
    generate(folder)
    for module in GENERATED:
        print(folder / module)

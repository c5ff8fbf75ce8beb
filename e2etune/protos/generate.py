"""Regenerates the Python code of the protobuf schema.

Run `python -m e2etune.protos.generate` after editing `e2etune.proto`; it
needs `grpcio-tools` (installed with the `test` extra).
"""

from __future__ import annotations

import pathlib
import sys

PROTO_DIR = pathlib.Path(__file__).resolve().parent
PROTO_FILE = "e2etune.proto"


def generate(out_dir: pathlib.Path | str = PROTO_DIR) -> pathlib.Path:
    """Writes `e2etune_pb2.py` for the schema into `out_dir` and returns its path."""
    from grpc_tools import protoc

    out_dir = pathlib.Path(out_dir)

    status = protoc.main(
        ["protoc", f"-I{PROTO_DIR}", f"--python_out={out_dir}", str(PROTO_DIR / PROTO_FILE)]
    )
    if status != 0:
        raise RuntimeError(f"protoc failed with status {status} on {PROTO_FILE}")
    return out_dir / "e2etune_pb2.py"


if __name__ == "__main__":
    print(generate(pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else PROTO_DIR))

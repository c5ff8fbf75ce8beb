"""The protobuf schema: damaged bytes, 64-bit numbers, and the generated code agreeing with it."""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

import pytest
from google.protobuf import descriptor_pb2

from e2etune.engine.hyperparameters import Choice, Float, HyperParameters, hyperparameter_from_proto
from e2etune.errors import SearchStateError
from e2etune.protos import e2etune_pb2, generate, parse

PROTO_DIR = pathlib.Path(generate.__file__).resolve().parent


def sample_trial() -> e2etune_pb2.Trial:
    hp = HyperParameters()
    hp.Float("lr", 1e-4, 1e-1, sampling="log")
    hp.Choice("act", ["relu", "tanh"])
    trial = e2etune_pb2.Trial(trial_id="0001", hyperparameters=hp.to_proto(),
                              status=e2etune_pb2.COMPLETED, score=0.1 + 1e-12, best_step=3)
    trial.metrics.add(name="val_loss", direction=e2etune_pb2.MIN).observations.add(value=[1 / 3], step=0)
    return trial


def test_good_bytes_parse_into_the_message():
    trial = sample_trial()
    parsed = parse(e2etune_pb2.Trial, trial.SerializeToString(), "trial '0001'")
    assert isinstance(parsed, e2etune_pb2.Trial) and parsed == trial
    assert parse(e2etune_pb2.Trial, b"", "trial") == e2etune_pb2.Trial()


@pytest.mark.parametrize(
    "data",
    [b"\xff\xff\xff\xff\xff", b"\x0f", b"\x08", b"\x0a\x05ab", b"\x12\x80", b"\x0a\x02\xff\xfe",
     b"\x21\x00\x00", bytes(range(256))],
    ids=["bad varint", "bad wire type", "missing varint", "short string", "short length",
         "invalid utf-8", "short double", "garbage"],
)
def test_garbage_raises_search_state_error(data):
    with pytest.raises(SearchStateError) as raised:
        parse(e2etune_pb2.Trial, data, "trial 'a1b2'")
    message = str(raised.value)
    assert "trial 'a1b2'" in message and "damaged" in message and "overwrite=True" in message
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


def test_every_cut_inside_a_nested_message_raises():
    trial = sample_trial()
    data = trial.SerializeToString()
    # Fields are written in number order: trial_id (1), then hyperparameters (2), ...
    start = len(e2etune_pb2.Trial(trial_id=trial.trial_id).SerializeToString())
    end = start + len(e2etune_pb2.Trial(hyperparameters=trial.hyperparameters).SerializeToString())
    assert data[:end].startswith(data[:start]) and end < len(data)
    for cut in range(start + 1, end):
        with pytest.raises(SearchStateError):
            parse(e2etune_pb2.Trial, data[:cut], "trial")


def test_every_cut_of_a_single_field_message_raises():
    data = e2etune_pb2.HyperParameters(space=[Float("lr", 1e-4, 0.1, sampling="log")._to_message()]).SerializeToString()
    for cut in range(1, len(data)):
        with pytest.raises(SearchStateError):
            parse(e2etune_pb2.HyperParameters, data[:cut], "space")


def test_a_hyperparameter_without_kind_is_a_clear_error():
    with pytest.raises(ValueError, match="'units'.*no type.*damaged"):
        hyperparameter_from_proto(e2etune_pb2.HyperParameter(name="units"))
    proto = Choice("act", ["a", "b"])._to_message()
    proto.choice_spec.values[1].Clear()
    with pytest.raises(ValueError, match="empty"):
        hyperparameter_from_proto(proto)


def test_all_numbers_in_the_schema_are_64_bit():
    narrow = {descriptor_pb2.FieldDescriptorProto.TYPE_FLOAT, descriptor_pb2.FieldDescriptorProto.TYPE_INT32,
              descriptor_pb2.FieldDescriptorProto.TYPE_UINT32, descriptor_pb2.FieldDescriptorProto.TYPE_SINT32,
              descriptor_pb2.FieldDescriptorProto.TYPE_FIXED32, descriptor_pb2.FieldDescriptorProto.TYPE_SFIXED32}
    file_proto = descriptor_pb2.FileDescriptorProto.FromString(e2etune_pb2.DESCRIPTOR.serialized_pb)
    fields = [(m.name, f.name, f.type) for m in file_proto.message_type for f in m.field]
    assert fields and not [f for f in fields if f[2] in narrow]
    assert ("Trial", "score", descriptor_pb2.FieldDescriptorProto.TYPE_DOUBLE) in fields
    assert ("MetricObservation", "value", descriptor_pb2.FieldDescriptorProto.TYPE_DOUBLE) in fields


def test_doubles_round_trip_bit_for_bit():
    values = [0.1 + 1e-12, 1 / 3, -0.0, 5e-324, 1.7976931348623157e308, float("inf")]
    observation = e2etune_pb2.MetricObservation(value=values, step=2**62)
    copy = parse(e2etune_pb2.MetricObservation, observation.SerializeToString(), "observation")
    assert [v.hex() for v in copy.value] == [v.hex() for v in values]
    assert copy.step == 2**62
    trial = parse(e2etune_pb2.Trial, e2etune_pb2.Trial(score=0.1 + 1e-12).SerializeToString(), "trial")
    assert trial.score == 0.1 + 1e-12


def test_oracle_state_round_trips():
    state = e2etune_pb2.OracleState(
        format_version=1, space=sample_trial().hyperparameters,
        objectives=[e2etune_pb2.Objective(name="val_loss", direction=e2etune_pb2.MIN)],
        seed=2**40, seed_state=17, retry_queue=["3", "1"], tried_hashes=["ab"],
        consecutive_failures=["4"], algorithm_state=b"\x00{}", oracle_class="RandomSearchOracle",
        next_trial_number=9)
    assert parse(e2etune_pb2.OracleState, state.SerializeToString(), "oracle state") == state


# The generated code agrees with the schema.

def descriptor_from_protoc(tmp_path: pathlib.Path,
                           proto: str = "e2etune.proto") -> descriptor_pb2.FileDescriptorProto:
    out = tmp_path / f"{proto}.desc"
    # In a subprocess: grpc_tools' protoc crashes in a process that has loaded TensorFlow.
    result = subprocess.run([sys.executable, "-m", "grpc_tools.protoc", f"-I{PROTO_DIR}",
                             f"--descriptor_set_out={out}", str(PROTO_DIR / proto)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    files = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file
    assert [f.name for f in files] == [proto]
    return files[0]


def embedded_descriptor(module_path: pathlib.Path) -> descriptor_pb2.FileDescriptorProto:
    """The serialized FileDescriptorProto a generated module registers, read without importing it."""
    for node in ast.walk(ast.parse(module_path.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "AddSerializedFile":
            return descriptor_pb2.FileDescriptorProto.FromString(ast.literal_eval(node.args[0]))
    raise AssertionError(f"{module_path} registers no descriptor")


def checked_in_descriptor() -> descriptor_pb2.FileDescriptorProto:
    return descriptor_pb2.FileDescriptorProto.FromString(e2etune_pb2.DESCRIPTOR.serialized_pb)


def without_json_names(file_proto: descriptor_pb2.FileDescriptorProto) -> descriptor_pb2.FileDescriptorProto:
    """A copy without `json_name`s, which protoc writes to descriptor sets but not into `_pb2` modules."""
    copy = descriptor_pb2.FileDescriptorProto()
    copy.CopyFrom(file_proto)
    copy.ClearField("source_code_info")
    messages = list(copy.message_type)
    while messages:
        message = messages.pop()
        messages.extend(message.nested_type)
        for field in list(message.field) + list(message.extension):
            field.ClearField("json_name")
    return copy


def test_generated_module_matches_the_proto_file(tmp_path):
    from_proto_file = without_json_names(descriptor_from_protoc(tmp_path))
    assert any(m.name == "Trial" for m in from_proto_file.message_type)
    assert without_json_names(checked_in_descriptor()) == from_proto_file


def test_regenerating_gives_the_same_descriptor(tmp_path):
    path = generate.generate(tmp_path)
    assert path == tmp_path / "e2etune_pb2.py" and path.exists()
    assert embedded_descriptor(path) == checked_in_descriptor()
    assert embedded_descriptor(PROTO_DIR / "e2etune_pb2.py") == checked_in_descriptor()
    assert generate.generate(str(tmp_path)) == path  # a str folder works too


# The gRPC service of distributed searches (`service.proto`).

def test_generated_service_module_matches_its_proto_file(tmp_path):
    from_proto_file = without_json_names(descriptor_from_protoc(tmp_path, "service.proto"))
    assert list(from_proto_file.dependency) == ["e2etune.proto"]
    assert [s.name for s in from_proto_file.service] == ["OracleService"]
    assert embedded_descriptor(PROTO_DIR / "service_pb2.py") == from_proto_file


def test_regenerating_writes_the_checked_in_service_modules(tmp_path):
    generate.generate(tmp_path)
    for name in generate.GENERATED:
        assert (tmp_path / name).read_text() == (PROTO_DIR / name).read_text(), name
    # The generated modules import each other from the package, never as top-level modules.
    for name in generate.GENERATED[1:]:
        imports = [line for line in (PROTO_DIR / name).read_text().splitlines()
                   if line.startswith(("import ", "from ")) and "_pb2" in line]
        assert imports and all(line.startswith("from e2etune.protos import") for line in imports)


def test_service_messages_reuse_the_state_messages():
    from e2etune.protos import service_pb2

    response = service_pb2.EndTrialResponse(trial=sample_trial())
    assert type(response.trial) is e2etune_pb2.Trial
    copy = parse(service_pb2.EndTrialResponse, response.SerializeToString(), "answer")
    assert copy.trial == sample_trial() and not copy.HasField("best")

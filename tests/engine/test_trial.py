"""`Trial` and `TrialStatus`: proto round trips (64-bit), summaries, state."""

from __future__ import annotations

import math

import pytest

from e2etune.engine.hyperparameters import HyperParameters
from e2etune.engine.trial import Trial, TrialStatus
from e2etune.protos import e2etune_pb2, parse


def make_trial() -> Trial:
    hp = HyperParameters()
    hp.Int("units", 32, 256, step=32)
    hp.Choice("model", ["mlp", "cnn"])
    with hp.conditional_scope("model", "cnn"):
        hp.Float("lr", 1e-4, 1e-1, sampling="log")
    hp.values.update(units=96, model="cnn", lr=1 / 3 * 1e-2)
    trial = Trial(hp, trial_id="0007", status=TrialStatus.COMPLETED, message="Traceback: boom")
    trial.score = 0.1 + 1e-12
    trial.best_step = 4
    trial.attempts = 2
    for step, (loss, accuracy) in enumerate([(1 / 3, 0.5), (0.25, 2 / 3)]):
        trial.metrics.update("val_loss", loss, step=step)
        trial.metrics.update("val_accuracy", accuracy, step=step)
    trial.metrics.update("val_loss", 1 / 7, step=1)
    return trial


def round_trip(trial: Trial) -> Trial:
    return Trial.from_proto(parse(e2etune_pb2.Trial, trial.to_proto().SerializeToString(), "trial"))


def test_every_field_survives_proto_bytes():
    trial = make_trial()
    copy = round_trip(trial)
    assert copy.trial_id == "0007" and copy.status == TrialStatus.COMPLETED
    assert copy.message == "Traceback: boom"
    assert copy.best_step == 4 and copy.attempts == 2
    assert copy.hyperparameters.values == trial.hyperparameters.values
    assert copy.hyperparameters.space == trial.hyperparameters.space
    assert copy.get_state() == trial.get_state()


def test_scores_and_observations_are_64_bit():
    copy = round_trip(make_trial())
    assert copy.score == 0.1 + 1e-12 and copy.score != 0.1
    assert copy.metrics.get_history("val_loss")[0].value == [1 / 3]
    assert copy.metrics.get_history("val_loss")[1].value == [0.25, 1 / 7]
    assert copy.metrics.get_history("val_accuracy")[1].value == [2 / 3]
    assert copy.hyperparameters.get("lr") == 1 / 3 * 1e-2
    assert copy.metrics.get_best_value("val_loss") == (0.25 + 1 / 7) / 2


def test_no_score_stays_none_and_zero_stays_zero():
    trial = Trial(HyperParameters(), trial_id="1")
    assert round_trip(trial).score is None
    trial.score = 0.0
    assert round_trip(trial).score == 0.0
    trial.score = float("inf")
    assert round_trip(trial).score == float("inf") and not round_trip(trial).has_finite_score
    trial.score = float("nan")
    assert math.isnan(round_trip(trial).score)


@pytest.mark.parametrize("status", TrialStatus.ALL)
def test_every_status_round_trips(status):
    trial = Trial(HyperParameters(), trial_id="x", status=status)
    assert round_trip(trial).status == status
    assert TrialStatus.from_proto(TrialStatus.to_proto(status)) == status


def test_an_unset_status_is_a_damaged_state():
    proto = make_trial().to_proto()
    proto.ClearField("status")
    with pytest.raises(ValueError, match="status"):
        Trial.from_proto(proto)


def test_defaults():
    trial = Trial(HyperParameters())
    assert trial.status == TrialStatus.RUNNING and trial.score is None
    assert trial.message is None and trial.attempts == 0 and trial.crashes == 0
    # Made without an id, a trial gets a random one (as in KerasTuner).
    assert len(trial.trial_id) == 16 and trial.trial_id != Trial(HyperParameters()).trial_id
    assert not trial.has_finite_score
    copy = round_trip(trial)
    assert copy.trial_id == trial.trial_id and copy.message is None
    assert copy.status == TrialStatus.RUNNING


def test_summary_shows_id_values_and_score(capsys):
    trial = make_trial()
    text = trial.summary_text()
    for fragment in ("Trial 0007 summary", "units: 96", "model: cnn", "lr: ", "Score: 0.100000000001",
                     "Traceback: boom"):
        assert fragment in text, fragment
    trial.summary()
    assert capsys.readouterr().out.strip() == text
    assert "units=96" in trial.display_hyperparameters()


def test_summary_shows_active_values_only():
    trial = make_trial()
    trial.hyperparameters.values["model"] = "mlp"
    assert "lr" not in trial.summary_text()
    assert "Score" not in Trial(HyperParameters(), trial_id="2").summary_text()
    assert "default configuration" in Trial(HyperParameters(), trial_id="2").summary_text()


def test_status_groups():
    assert set(TrialStatus.ENDED) < set(TrialStatus.ALL)
    assert TrialStatus.RUNNING not in TrialStatus.ENDED and TrialStatus.IDLE not in TrialStatus.ENDED


def test_status_none_is_the_unspecified_enum_value():
    assert TrialStatus.to_proto(None) == e2etune_pb2.TRIAL_STATUS_UNSPECIFIED
    assert TrialStatus.from_proto(e2etune_pb2.TRIAL_STATUS_UNSPECIFIED) is None


@pytest.mark.parametrize("convert, bad", [(TrialStatus.to_proto, "DONE"), (TrialStatus.to_proto, "running"),
                                          (TrialStatus.from_proto, 42)])
def test_an_unknown_status_is_refused(convert, bad):
    with pytest.raises(ValueError, match=f"Unknown status {bad!r}"):
        convert(bad)


def test_summary_of_a_failed_trial_shows_its_error(capsys):
    trial = Trial(HyperParameters(), trial_id="7", status=TrialStatus.FAILED,
                  message="Traceback ...\nKeyError: 'x'")
    trial.summary()
    assert "Traceback ...\nKeyError: 'x'" in capsys.readouterr().out

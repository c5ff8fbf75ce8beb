"""Pruners: stop unpromising trials early, from the values they report as they train.

Give one to any tuner or oracle (`pruner=`); Hyperband has its own schedule
and takes none. With the Keras `Tuner`, each epoch's objective is reported
and the pruner asked after it; a custom loop calls `trial.report(step,
value)` and `trial.should_prune()` itself. A pruned trial ends PRUNED, with
its last reported value as its score.

Example:
    >>> tuner = e2etune.RandomSearch(build_model, objective="val_loss", max_trials=30,
    ...                              pruner=e2etune.pruners.MedianPruner(warmup_steps=2))
"""

from e2etune.pruners._base import BasePruner, intermediate_values
from e2etune.pruners._median import MedianPruner
from e2etune.pruners._successive_halving import SuccessiveHalvingPruner

__all__ = ["BasePruner", "MedianPruner", "SuccessiveHalvingPruner", "intermediate_values"]

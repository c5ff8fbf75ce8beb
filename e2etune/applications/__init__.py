"""Ready-made hypermodels, as KerasTuner's `keras_tuner.applications`.

`HyperResNet`, `HyperXception` and `HyperEfficientNet` build image
classifiers whose architecture and training are tuned;
`HyperImageAugment` builds a tuned image-augmentation model. Importing this
package does not load Keras; `build` does.

Example:
    >>> import e2etune as kt
    >>> hypermodel = kt.applications.HyperResNet(input_shape=(32, 32, 3), classes=10)
    >>> tuner = kt.RandomSearch(hypermodel, objective="val_accuracy", max_trials=5)
"""

from __future__ import annotations

from e2etune.applications.augment import HyperImageAugment
from e2etune.applications.efficientnet import HyperEfficientNet
from e2etune.applications.resnet import HyperResNet
from e2etune.applications.xception import HyperXception

__all__ = ["HyperEfficientNet", "HyperImageAugment", "HyperResNet", "HyperXception"]

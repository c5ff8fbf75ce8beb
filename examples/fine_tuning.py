"""Fine-tune a pretrained base, tuning how many of its layers stay frozen.

Nothing is downloaded: the example first trains a small "pretrained" base
on a large related task and saves it (`pretrained_base.keras`), as a model
zoo would provide one. Each trial then loads that base, freezes its first
`frozen_layers` layers, adds a new head and trains on a small target task.

Run it with `python examples/fine_tuning.py`.
"""

import os

import keras
import numpy as np

import e2etune as kt


def make_task(samples, shift, seed):
    """Binary tasks that share structure: the sign of a weighted sum of the first features."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(samples, 8)).astype("float32")
    y = (x[:, :4].sum(axis=1) + shift * x[:, 4] > 0).astype("float32")
    return x, y


def pretrain_base(path, epochs=3):
    """Trains a base network on the large source task and saves it (without its head)."""
    x, y = make_task(2000, shift=0.0, seed=10)
    base = keras.Sequential([
        keras.Input((8,)),
        keras.layers.Dense(32, activation="relu", name="block1"),
        keras.layers.Dense(32, activation="relu", name="block2"),
        keras.layers.Dense(16, activation="relu", name="block3"),
    ], name="pretrained_base")
    model = keras.Sequential([base, keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    model.fit(x, y, epochs=epochs, batch_size=64, verbose=0)
    base.save(path)
    return path


def make_build(base_path):
    """The build function: the pretrained base, partly frozen, with a new head."""

    def build(hp):
        base = keras.saving.load_model(base_path, compile=False)
        frozen = hp.Int("frozen_layers", 0, len(base.layers))
        for layer in base.layers[:frozen]:
            layer.trainable = False
        model = keras.Sequential([
            base,
            keras.layers.Dropout(hp.Float("dropout", 0.0, 0.4, step=0.2)),
            keras.layers.Dense(1, activation="sigmoid"),
        ])
        model.compile(optimizer=keras.optimizers.Adam(hp.Float("learning_rate", 1e-3, 1e-2,
                                                               sampling="log")),
                      loss="binary_crossentropy", metrics=["accuracy"])
        return model

    return build


def main(directory="results", max_trials=5, epochs=5, verbose=1):
    keras.utils.set_random_seed(6)
    os.makedirs(directory, exist_ok=True)
    base_path = pretrain_base(os.path.join(directory, "pretrained_base.keras"))
    x, y = make_task(120, shift=0.5, seed=11)  # the small target task
    tuner = kt.RandomSearch(make_build(base_path), objective="val_accuracy",
                            max_trials=max_trials, seed=6, overwrite=True,
                            directory=directory, project_name="fine_tuning")
    tuner.search(x, y, epochs=epochs, validation_split=0.3, verbose=verbose)
    best_model = tuner.get_best_models()[0]
    x_test, y_test = make_task(200, shift=0.5, seed=12)
    accuracy = best_model.evaluate(x_test, y_test, verbose=0, return_dict=True)["accuracy"]
    print("Best hyperparameters:", tuner.get_best_hyperparameters()[0].values)
    print(f"Best model's accuracy on new data: {accuracy:.3f}")
    return tuner, accuracy


if __name__ == "__main__":
    main()

"""The HyperModel workflow: tune how a model is built and how it is trained.

`build` declares the architecture's hyperparameters; `fit` declares the
training's (batch size) and reads one that `build` declared (`hp.get`). After
the search, the second-best configuration is retrained from scratch with a
Keras `ModelCheckpoint`, as one would to compare runners-up.

Run it with `python examples/hypermodel_workflow.py`.
"""

import os

import keras
import numpy as np

import e2etune as kt


def make_data(samples=300, classes=3, seed=0):
    """Three Gaussian blobs in 5 dimensions."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=2.0, size=(classes, 5))
    y = rng.integers(0, classes, size=samples)
    x = (centers[y] + rng.normal(size=(samples, 5))).astype("float32")
    return x, y


class BlobClassifier(kt.HyperModel):
    def build(self, hp):
        model = keras.Sequential([keras.Input((5,))])
        for i in range(hp.Int("layers", 1, 2)):
            model.add(keras.layers.Dense(hp.Int(f"units_{i}", 8, 32, step=8), activation="relu"))
        model.add(keras.layers.Dense(3, activation="softmax"))
        learning_rate = hp.Float("learning_rate", 1e-3, 3e-2, sampling="log")
        model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    def fit(self, hp, model, x, y, **kwargs):
        # Larger networks get larger batches: `hp.get` reads a value `build` declared.
        batch_size = hp.Choice("batch_size", [16, 32]) * hp.get("layers")
        return model.fit(x, y, batch_size=batch_size, **kwargs)


def main(directory="results", max_trials=5, epochs=4, verbose=1):
    keras.utils.set_random_seed(3)
    x, y = make_data()
    hypermodel = BlobClassifier()
    tuner = kt.RandomSearch(
        hypermodel,
        objective="val_accuracy",  # maximized: the direction is inferred
        max_trials=max_trials,
        seed=3,
        overwrite=True,
        directory=directory,
        project_name="hypermodel_workflow",
    )
    tuner.search(x, y, epochs=epochs, validation_split=0.25, verbose=verbose)
    tuner.results_summary(num_trials=2)

    # Retrain the runner-up, keeping its best epoch with a ModelCheckpoint.
    second_best = tuner.get_best_hyperparameters(num_trials=2)[-1]
    path = os.path.join(directory, "second_best.keras")
    model = hypermodel.build(second_best)
    hypermodel.fit(
        second_best, model, x, y, epochs=epochs, validation_split=0.25, verbose=0,
        callbacks=[keras.callbacks.ModelCheckpoint(path, monitor="val_accuracy",
                                                   save_best_only=True)],
    )
    retrained = keras.saving.load_model(path)
    print("Second-best hyperparameters:", second_best.values)
    print("Retrained model's predictions:", retrained.predict(x[:3], verbose=0).argmax(axis=1))
    return tuner, retrained


if __name__ == "__main__":
    main()

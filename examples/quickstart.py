"""Quick start: tune a small Keras classifier by overriding `run_trial`.

Run it with `python examples/quickstart.py` (about 20 s on a laptop CPU).
"""

import keras
import numpy as np

import e2etune as kt


def make_data(samples=200, seed=0):
    """A synthetic binary classification task: is the sum of the first 4 features positive?"""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(samples, 8)).astype("float32")
    y = (x[:, :4].sum(axis=1) > 0).astype("float32")
    return x, y


def build_model(units):
    model = keras.Sequential([
        keras.Input((8,)),
        keras.layers.Dense(units, activation="relu"),
        keras.layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return model


class MyTuner(kt.Tuner):
    def run_trial(self, trial, x, y, **kwargs):
        hp = trial.hyperparameters
        model = build_model(units=hp.Int("units", 8, 64, step=8))
        history = model.fit(x, y, validation_split=0.2,
                            shuffle=hp.Boolean("shuffle"), **kwargs)
        return min(history.history["val_loss"])  # any float is minimized


def main(directory="results", epochs=2, verbose=1):
    keras.utils.set_random_seed(0)
    x, y = make_data()
    tuner = MyTuner(max_trials=3, executions_per_trial=2, overwrite=True,
                    directory=directory, project_name="quickstart")
    tuner.search(x, y, epochs=epochs, verbose=verbose)
    best_model = tuner.get_best_models()[0]
    print("Best hyperparameters:", tuner.get_best_hyperparameters()[0].values)
    print("Predictions of the best model:", best_model.predict(x[:3], verbose=0).ravel())
    return tuner


if __name__ == "__main__":
    main()

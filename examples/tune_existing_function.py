"""Tune a function you already have, then retrain it with the best values.

`build_and_evaluate_model` is ordinary code that trains a model and returns
its validation loss. The tuner calls it with values from the search space;
afterwards the best values go straight back into it with
`**tuner.get_best_hyperparameters()[0].values`.

Run it with `python examples/tune_existing_function.py`.
"""

import keras
import numpy as np

import e2etune as kt


def make_data(samples=300, seed=0):
    """A noisy regression task."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, size=(samples, 4)).astype("float32")
    y = (np.sin(3 * x[:, 0]) + x[:, 1] * x[:, 2] + 0.1 * rng.normal(size=samples)).astype("float32")
    split = int(0.8 * samples)
    return (x[:split], y[:split]), (x[split:], y[split:])


def build_and_evaluate_model(units=16, learning_rate=1e-3, dropout=0.0, *, data, epochs=5):
    """Existing code: trains a regressor and returns its validation loss (MSE)."""
    (x, y), (x_val, y_val) = data
    model = keras.Sequential([
        keras.Input((x.shape[1],)),
        keras.layers.Dense(units, activation="relu"),
        keras.layers.Dropout(dropout),
        keras.layers.Dense(1),
    ])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="mse")
    model.fit(x, y, epochs=epochs, batch_size=32, verbose=0)
    return model.evaluate(x_val, y_val, verbose=0)


class FunctionTuner(kt.Tuner):
    def run_trial(self, trial, data, epochs, **kwargs):
        # `kwargs` takes what the search adds (`verbose`, `callbacks`); unused here.
        hp = trial.hyperparameters
        return build_and_evaluate_model(
            units=hp.Int("units", 8, 64, step=8),
            learning_rate=hp.Float("learning_rate", 1e-3, 3e-2, sampling="log"),
            dropout=hp.Float("dropout", 0.0, 0.3, step=0.1),
            data=data,
            epochs=epochs,
        )  # a float: minimized, as no objective is given


def main(directory="results", max_trials=6, epochs=5, verbose=1):
    keras.utils.set_random_seed(2)
    data = make_data()
    tuner = FunctionTuner(max_trials=max_trials, seed=2, overwrite=True,
                          directory=directory, project_name="tune_existing_function")
    tuner.search(data=data, epochs=epochs, verbose=verbose)

    best = tuner.get_best_hyperparameters()[0]
    print("Best hyperparameters:", best.values)
    final_loss = build_and_evaluate_model(**best.values, data=data, epochs=2 * epochs)
    print(f"Retrained with the best values for {2 * epochs} epochs: validation MSE {final_loss:.4f}")
    return tuner, final_loss


if __name__ == "__main__":
    main()

"""The Tuner workflow: feature selection, units, shuffle and sample weights tuned together.

All of the workflow lives in one `run_trial`: which input features to keep,
the width of the network, whether `fit` shuffles, and how much weight the
rare positive class gets. The search optimizes the validation AUC; the best
model comes back ready to predict, together with the features it expects.

Run it with `python examples/tuner_workflow.py`.
"""

import keras
import numpy as np

import e2etune as kt

NUM_FEATURES = 6


def make_data(samples=300, seed=0):
    """Imbalanced classes (about 1 in 4 positive); only features 0, 1 and 2 matter."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(samples, NUM_FEATURES)).astype("float32")
    score = x[:, 0] + 0.8 * x[:, 1] - 0.6 * x[:, 2]
    y = (score > np.quantile(score, 0.75)).astype("float32")
    split = int(0.75 * samples)
    return (x[:split], y[:split]), (x[split:], y[split:])


def selected_features(hp):
    """The feature columns a trial uses (declares one Boolean per feature)."""
    return [i for i in range(NUM_FEATURES) if hp.Boolean(f"use_feature_{i}", default=True)]


class FeatureSelectionTuner(kt.Tuner):
    def run_trial(self, trial, x, y, validation_data, **kwargs):
        hp = trial.hyperparameters
        features = selected_features(hp)
        if not features:
            raise kt.errors.FailedTrialError("No feature selected; nothing to train on.")
        units = hp.Int("units", 4, 32, step=4)
        positive_weight = hp.Float("positive_weight", 1.0, 4.0, sampling="log")
        sample_weight = np.where(y == 1, positive_weight, 1.0)

        model = keras.Sequential([
            keras.Input((len(features),)),
            keras.layers.Dense(units, activation="relu"),
            keras.layers.Dense(1, activation="sigmoid"),
        ])
        model.compile(optimizer=keras.optimizers.Adam(0.01), loss="binary_crossentropy",
                      metrics=[keras.metrics.AUC(name="auc")])
        x_val, y_val = validation_data
        # `kwargs` holds what search() got (epochs, verbose) plus the tuner's
        # callbacks, which save the best epoch of each trial.
        return model.fit(
            x[:, features], y,
            sample_weight=sample_weight,
            shuffle=hp.Boolean("shuffle"),
            validation_data=(x_val[:, features], y_val),
            **kwargs,
        )


def main(directory="results", max_trials=6, epochs=4, verbose=1):
    keras.utils.set_random_seed(1)
    (x, y), (x_val, y_val) = make_data()
    tuner = FeatureSelectionTuner(
        objective=kt.Objective("val_auc", direction="max"),
        max_trials=max_trials,
        seed=1,
        overwrite=True,
        directory=directory,
        project_name="tuner_workflow",
    )
    tuner.search(x, y, validation_data=(x_val, y_val), epochs=epochs, verbose=verbose)

    best_hp = tuner.get_best_hyperparameters()[0]
    features = selected_features(best_hp)
    best_model = tuner.get_best_models()[0]
    probabilities = best_model.predict(x_val[:, features], verbose=0)
    print("Best hyperparameters:", best_hp.values)
    print(f"Features used: {features}; first predictions: {probabilities[:3].ravel()}")
    return tuner


if __name__ == "__main__":
    main()

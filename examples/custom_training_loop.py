"""Tune a model trained by a custom `tf.GradientTape` loop.

`HyperModel.fit` may train in any way it likes: here a hand-written loop
whose batch size and learning rate are tuned. It returns the lowest
validation loss it saw (a float, minimized). Calling the tuner's callbacks
at the end of each epoch with the validation loss lets the tuner keep the
best epoch's model, so `get_best_models()` works as with `model.fit`.

Run it with `python examples/custom_training_loop.py`.
"""

import keras
import numpy as np
import tensorflow as tf

import e2etune as kt


def make_data(samples=400, seed=0):
    """A regression task: y = x0 * x1 + sin(x2) + noise."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, size=(samples, 3)).astype("float32")
    y = (x[:, 0] * x[:, 1] + np.sin(x[:, 2]) + 0.1 * rng.normal(size=samples)).astype("float32")
    split = int(0.8 * samples)
    return (x[:split], y[:split, None]), (x[split:], y[split:, None])


class GradientTapeModel(kt.HyperModel):
    def build(self, hp):
        return keras.Sequential([
            keras.Input((3,)),
            keras.layers.Dense(hp.Int("units", 8, 64, step=8), activation="relu"),
            keras.layers.Dense(1),
        ])

    def fit(self, hp, model, x, y, validation_data, epochs=3, callbacks=None, **kwargs):
        batch_size = hp.Choice("batch_size", [16, 32, 64])
        optimizer = keras.optimizers.Adam(hp.Float("learning_rate", 1e-3, 1e-1, sampling="log"))
        loss_fn = keras.losses.MeanSquaredError()
        train = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x)).batch(batch_size)
        x_val, y_val = validation_data

        @tf.function
        def train_step(x_batch, y_batch):
            with tf.GradientTape() as tape:
                loss = loss_fn(y_batch, model(x_batch, training=True))
            gradients = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(gradients, model.trainable_variables))
            return loss

        # The tuner's callbacks (checkpoint, hooks) and the user's, driven by hand.
        callback_list = keras.callbacks.CallbackList(callbacks, model=model)
        callback_list.on_train_begin()
        best_val_loss = float("inf")
        for epoch in range(epochs):
            callback_list.on_epoch_begin(epoch)
            for x_batch, y_batch in train:
                train_step(x_batch, y_batch)
            val_loss = float(loss_fn(y_val, model(x_val, training=False)))
            callback_list.on_epoch_end(epoch, logs={"val_loss": val_loss})
            best_val_loss = min(best_val_loss, val_loss)
        callback_list.on_train_end()
        return best_val_loss


def main(directory="results", max_trials=5, epochs=5, verbose=1):
    keras.utils.set_random_seed(5)
    (x, y), validation_data = make_data()
    tuner = kt.RandomSearch(GradientTapeModel(), max_trials=max_trials, seed=5, overwrite=True,
                            directory=directory, project_name="custom_training_loop")
    tuner.search(x, y, validation_data=validation_data, epochs=epochs, verbose=verbose)
    best_model = tuner.get_best_models()[0]
    x_val, y_val = validation_data
    mse = float(np.mean((best_model.predict(x_val, verbose=0) - y_val) ** 2))
    print("Best hyperparameters:", tuner.get_best_hyperparameters()[0].values)
    print(f"Best model's validation MSE: {mse:.4f}")
    return tuner, mse


if __name__ == "__main__":
    main()

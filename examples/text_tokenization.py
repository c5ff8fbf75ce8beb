"""Tune text preprocessing and the model together: one `max_tokens` for both.

The vocabulary size is a hyperparameter of the `TextVectorization` layer
and, necessarily, the input size of the `Embedding` that follows: declaring
it once and passing the value to both keeps them consistent in every trial.

Run it with `python examples/text_tokenization.py`.
"""

import keras
import numpy as np
import tensorflow as tf

import e2etune as kt

POSITIVE = ["good", "great", "fine", "lovely", "superb", "nice", "happy", "bright"]
NEGATIVE = ["bad", "awful", "poor", "sad", "dull", "grim", "ugly", "weak"]
FILLER = ["the", "movie", "was", "a", "plot", "actor", "scene", "really", "quite", "very",
          "story", "ending", "music", "some", "and", "it"]


def make_texts(samples=300, seed=0):
    """Short synthetic reviews; the label says whether positive words dominate."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for _ in range(samples):
        label = int(rng.integers(0, 2))
        mood = POSITIVE if label else NEGATIVE
        words = list(rng.choice(FILLER, size=5)) + list(rng.choice(mood, size=2))
        words.append(rng.choice(POSITIVE + NEGATIVE))
        rng.shuffle(words)
        texts.append(" ".join(words))
        labels.append(label)
    return np.array(texts), np.array(labels, dtype="float32")


class TextClassifier(kt.HyperModel):
    def __init__(self, train_texts):
        super().__init__()
        self.train_texts = train_texts

    def build(self, hp):
        max_tokens = hp.Int("max_tokens", 8, 40, step=8)
        vectorize = keras.layers.TextVectorization(max_tokens=max_tokens,
                                                   output_sequence_length=8)
        vectorize.adapt(self.train_texts)
        model = keras.Sequential([
            keras.Input(shape=(1,), dtype="string"),
            vectorize,
            keras.layers.Embedding(input_dim=max_tokens, output_dim=hp.Choice("dim", [4, 8])),
            keras.layers.GlobalAveragePooling1D(),
            keras.layers.Dense(1, activation="sigmoid"),
        ])
        model.compile(optimizer=keras.optimizers.Adam(0.02), loss="binary_crossentropy",
                      metrics=["accuracy"])
        return model


def main(directory="results", max_trials=4, epochs=4, verbose=1):
    keras.utils.set_random_seed(4)
    texts, labels = make_texts()
    split = int(0.8 * len(texts))
    # Keras takes strings as TensorFlow tensors (not numpy string arrays).
    x, y = tf.constant(texts[:split, None]), labels[:split]
    x_val, y_val = tf.constant(texts[split:, None]), labels[split:]
    tuner = kt.RandomSearch(
        TextClassifier(texts[:split]),
        objective="val_accuracy",
        max_trials=max_trials,
        seed=4,
        overwrite=True,
        directory=directory,
        project_name="text_tokenization",
    )
    tuner.search(x, y, validation_data=(x_val, y_val), epochs=epochs, verbose=verbose)
    best_model = tuner.get_best_models()[0]
    reviews = tf.constant([["the movie was great and happy"], ["a dull and awful story"]])
    print("Best hyperparameters:", tuner.get_best_hyperparameters()[0].values)
    print("P(positive) for two reviews:", best_model.predict(reviews, verbose=0).ravel())
    return tuner


if __name__ == "__main__":
    main()

"""Source `keras`: real Keras 3 on its torch backend: keras.Sequential models, keras optimizers and
initializers, `model.fit(..., validation_data=..., callbacks=[CSVLogger(path), TerminateOnNaN()])`.

The CSVLogger writes the history file itself (epochs from 0, keys sorted); the corpus keeps that file
as Keras wrote it. Seeded with keras.utils.set_random_seed, on one CPU thread.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

os.environ["KERAS_BACKEND"] = "torch"

import numpy as np  # noqa: E402
import torch  # noqa: E402

import keras  # noqa: E402
from keras import layers  # noqa: E402

from core.bench.corpus.curve import Curve, Trained  # noqa: E402
from core.bench.corpus.tasks import load_task  # noqa: E402

NAME = "keras"


def initializer(config: dict):
    name = config["init"]
    if name == "zeros":
        return keras.initializers.Zeros()
    if name == "normal":
        return keras.initializers.RandomNormal(stddev=config["init_std"])
    if name == "xavier_uniform":
        return keras.initializers.GlorotUniform()
    if name == "he_normal":
        return keras.initializers.HeNormal()
    raise ValueError(f"unknown init {name!r}")


def optimizer(config: dict):
    name, lr = config["optimizer"], config["lr"]
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate=lr)
    if name == "momentum":
        return keras.optimizers.SGD(learning_rate=lr, momentum=config.get("momentum", 0.9))
    if name == "adam":
        return keras.optimizers.Adam(learning_rate=lr)
    if name == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate=lr)
    if name == "adagrad":
        return keras.optimizers.Adagrad(learning_rate=lr)
    raise ValueError(f"unknown optimizer {name!r}")


def build_model(config: dict, height: int, width: int, classes: int, sigmoid: bool) -> keras.Sequential:
    act, drop = config["activation"], config.get("dropout", 0.0)
    kind = config["model"]
    init = lambda: initializer(config)  # noqa: E731 (a fresh initializer per layer)
    out = layers.Dense(1, activation="sigmoid", kernel_initializer=init()) if sigmoid else \
        layers.Dense(classes, activation="softmax", kernel_initializer=init())
    if kind == "mlp":
        stack = [keras.Input((height * width,))]
        for _ in range(config["depth"]):
            stack.append(layers.Dense(config["width"], activation=act, kernel_initializer=init()))
            if drop:
                stack.append(layers.Dropout(drop))
        return keras.Sequential(stack + [out])
    pad = "same" if height < 16 else "valid"
    stack = [keras.Input((height, width, 1))]
    if kind == "simple_cnn":  # the Keras MNIST convnet example
        stack += [layers.Conv2D(32, 3, activation=act, padding=pad, kernel_initializer=init()),
                  layers.MaxPooling2D(2),
                  layers.Conv2D(64, 3, activation=act, padding=pad, kernel_initializer=init()),
                  layers.MaxPooling2D(2), layers.Flatten()]
    elif kind == "vgg_bn":
        for filters in (16, 32):
            for _ in range(2):
                stack += [layers.Conv2D(filters, 3, padding="same", kernel_initializer=init()),
                          layers.BatchNormalization(), layers.Activation(act)]
            stack.append(layers.MaxPooling2D(2))
        stack += [layers.Flatten(), layers.Dense(64, kernel_initializer=init()), layers.BatchNormalization(),
                  layers.Activation(act)]
    else:
        raise ValueError(f"unknown model {kind!r}")
    if drop:
        stack.append(layers.Dropout(drop))
    return keras.Sequential(stack + [out])


def _column(text_rows: list[dict], key: str) -> list[float]:
    return [float(r[key]) for r in text_rows]


def train(config: dict) -> Trained:
    torch.set_num_threads(1)
    started = time.perf_counter()
    data = load_task(config["dataset"], config["task"], config["train_subset"], config["seed"])
    sigmoid = data.classes == 2 and config.get("output") == "sigmoid"
    keras.backend.clear_session()
    keras.utils.set_random_seed(config["seed"])
    mlp = config["model"] == "mlp"
    shape = (-1, data.x_train.shape[1] * data.x_train.shape[2]) if mlp else data.x_train.shape + (1,)
    shape_val = (-1, shape[1]) if mlp else data.x_val.shape + (1,)
    x_tr, x_va = data.x_train.reshape(shape), data.x_val.reshape(shape_val)
    y_tr, y_va = data.y_train, data.y_val
    if sigmoid:
        y_tr, y_va = y_tr.astype(np.float32).reshape(-1, 1), y_va.astype(np.float32).reshape(-1, 1)
    model = build_model(config, data.x_train.shape[1], data.x_train.shape[2], data.classes, sigmoid)
    model.compile(optimizer=optimizer(config),
                  loss="binary_crossentropy" if sigmoid else "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    folder = Path(tempfile.mkdtemp(prefix="corpus-keras-"))
    try:
        path = folder / "history.csv"
        model.fit(x_tr, y_tr, batch_size=config["batch_size"], epochs=config["epochs"], verbose=0, shuffle=True,
                  validation_data=(x_va, y_va),
                  callbacks=[keras.callbacks.CSVLogger(str(path)), keras.callbacks.TerminateOnNaN()])
        text = path.read_text(encoding="utf-8")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(text)))
    curve = Curve(_column(rows, "loss"), _column(rows, "accuracy"), _column(rows, "val_loss"),
                  _column(rows, "val_accuracy"), data.classes, data.prior_loss, data.majority)
    return Trained(curve, len(y_tr), time.perf_counter() - started, text)


def write_csv(trained: Trained, path: Path) -> None:
    """The file exactly as Keras' CSVLogger wrote it."""
    Path(path).write_text(trained.payload, encoding="utf-8")

"""Presets from the seeds: named starting points that each show one lesson of the tuning guide."""
from __future__ import annotations

from dataclasses import dataclass

from core.config import RunConfig


@dataclass(frozen=True)
class Preset:
    name: str
    lesson: str
    changes: dict

    def config(self) -> RunConfig:
        return RunConfig(**self.changes)


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            "Baseline simple CNN",
            "The seeds' starting point: Conv32-Pool-Conv64-Pool-Conv64-Dense64 with Adam at 1e-3. "
            "Train it first and keep it as the reference every change is compared with.",
            dict(model="simple_cnn", optimizer="adam", lr=1e-3, activation="relu", init="xavier_uniform",
                 epochs=5, batch_size=64),
        ),
        Preset(
            "Improved CNN (batch norm, dropout, augmentation)",
            "The seeds' improved network: more filters, batch norm, dropout and shifted/rotated/zoomed "
            "images. Slower per epoch, but the gap between training and validation stays small.",
            dict(model="vgg_bn", batch_norm=True, dropout=0.5, aug_shift=0.1, aug_rotation=15.0, aug_zoom=0.1,
                 optimizer="adam", lr=1e-3, epochs=5, early_stopping=True, patience=3),
        ),
        Preset(
            "Saturated sigmoid (bad init)",
            "A deep sigmoid network whose weights start at N(0, 1): every unit is pushed into the flat "
            "part of the sigmoid, gradients vanish and the loss stays flat near chance. Switch the "
            "initializer to xavier_uniform to see it learn.",
            dict(model="mlp", depth=10, width=128, activation="sigmoid", init="normal", init_std=1.0,
                 optimizer="momentum", lr=0.01, epochs=8),
        ),
        Preset(
            "Learning rate too high",
            "Adam at 0.02, twenty times its usual rate: in the first epoch single batches jump far above "
            "chance, then the network collapses and only guesses (about 10%) for the rest of the run: the "
            "steps were so large that its ReLU units stopped responding. Divide the learning rate by 10.",
            dict(model="simple_cnn", optimizer="adam", lr=0.02, epochs=6),
        ),
        Preset(
            "Learning rate too small",
            "Plain SGD at 1e-3: both losses fall, but so slowly that the run ends long before it "
            "converges. Multiply the learning rate by 10, or train longer.",
            dict(model="simple_cnn", optimizer="sgd", lr=1e-3, epochs=6),
        ),
        Preset(
            "Overfit a small subset",
            "A wide network on only 200 training images and no regularization: the training loss "
            "goes to almost zero while the validation loss turns and rises. Add dropout, L2 or more data.",
            dict(model="mlp", depth=3, width=256, train_subset=200, batch_size=32, optimizer="adam", lr=1e-3,
                 epochs=40),
        ),
    )
}

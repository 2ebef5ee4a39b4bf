"""Built-in data sets load offline; torchvision sets load from their raw files or say what is missing."""
from __future__ import annotations

import gzip
import struct
from pathlib import Path

import pytest
import torch

from core.catalog import datasets
from core.errors import DataUnavailableError


def test_mnist5k_is_5000_real_digits_of_every_class():
    data = datasets.load("mnist5k")
    assert data.x_train.shape == (5000, 1, 28, 28) and data.x_train.dtype == torch.uint8
    assert torch.bincount(data.y_train).tolist() == [500] * 10
    # real handwriting: dark background, bright strokes, about a fifth of the pixels lit
    lit = (data.x_train > 128).float().mean().item()
    assert 0.08 < lit < 0.3 and data.x_train.max() == 255


def test_digits_are_scikit_learns_8x8_images_scaled_to_bytes():
    data = datasets.load("digits")
    assert data.x_train.shape == (1797, 1, 8, 8) and data.x_train.max() == 255
    assert sorted(torch.unique(data.y_train).tolist()) == list(range(10))


def _write_idx(path: Path, array: torch.Tensor, packed: bool) -> None:
    magic = 0x0803 if array.ndim == 3 else 0x0801
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in array.shape)
    payload = header + array.numpy().astype("uint8").tobytes()
    if packed:
        with gzip.open(path.with_name(path.name + ".gz"), "wb") as fh:
            fh.write(payload)
    else:
        path.write_bytes(payload)


def write_mnist_raw(root: Path, folder: str = "MNIST", packed: bool = False) -> datasets.ImageData:
    """Torchvision's raw MNIST layout, written from the built-in real digits (no download)."""
    digits = datasets.load("mnist5k")
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    x = digits.x_train[:, 0]
    _write_idx(raw / "train-images-idx3-ubyte", x[:4000], packed)
    _write_idx(raw / "train-labels-idx1-ubyte", digits.y_train[:4000], packed)
    _write_idx(raw / "t10k-images-idx3-ubyte", x[4000:], packed)
    _write_idx(raw / "t10k-labels-idx1-ubyte", digits.y_train[4000:], packed)
    return digits


@pytest.mark.parametrize("packed", [False, True], ids=["idx", "idx.gz"])
def test_torchvision_mnist_path_reads_raw_files_without_downloading(tmp_path, packed):
    digits = write_mnist_raw(tmp_path, packed=packed)
    assert datasets.availability(tmp_path)[2]["available_offline"]
    data = datasets.load("mnist", tmp_path, download=False)
    assert data.x_train.shape == (4000, 1, 28, 28) and data.x_test.shape == (1000, 1, 28, 28)
    assert torch.equal(data.x_train, digits.x_train[:4000])
    assert torch.equal(data.y_test, digits.y_train[4000:])


def test_fashion_mnist_uses_its_own_folder(tmp_path):
    write_mnist_raw(tmp_path, folder="FashionMNIST")
    assert datasets.load("fashion_mnist", tmp_path, download=False).x_train.shape[0] == 4000


@pytest.mark.parametrize(
    "name, folder, first_file",
    [("mnist", "MNIST/raw", "train-images-idx3-ubyte.gz"),
     ("fashion_mnist", "FashionMNIST/raw", "train-images-idx3-ubyte.gz"),
     ("cifar10", "", "cifar-10-python.tar.gz")],
)
def test_missing_offline_data_names_the_folder_and_the_files(tmp_path, name, folder, first_file):
    with pytest.raises(DataUnavailableError) as info:
        datasets.load(name, tmp_path, download=False)
    message = str(info.value)
    assert str(tmp_path / folder) in message and first_file in message
    assert "TUNELAB_DATA_DIR" in message


def test_availability_lists_every_dataset(tmp_path):
    rows = {r["name"]: r for r in datasets.availability(tmp_path)}
    assert rows["mnist5k"]["available_offline"] and rows["digits"]["builtin"]
    assert not rows["cifar10"]["available_offline"]
    assert rows["cifar10"]["missing_files"] == ["cifar-10-python.tar.gz"]


def test_data_folder_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("TUNELAB_DATA_DIR", str(tmp_path / "elsewhere"))
    rows = {r["name"]: r for r in datasets.availability()}
    assert rows["mnist"]["folder"] == str(tmp_path / "elsewhere" / "MNIST" / "raw")

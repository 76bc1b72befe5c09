"Loaders read files in the exact official formats (built here, tiny), and bad files give errors that say what to do."
import hashlib
import io
import os
import pickle
import tarfile

import numpy as np
import pytest
import torch

from repl_nb import data as D
from repl_nb.data import DatasetFileError, download_dataset, load_dataset


def official_pickle(obj) -> bytes:
    "A protocol-2 pickle naming numpy.core, as the official CIFAR files (written by Python 2) do."
    raw = pickle.dumps(obj, protocol=2)
    return raw.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")


def batch(n, rng, label_key="labels", n_labels=10):
    return {b"batch_label": b"training batch 1 of 5", label_key.encode(): rng.integers(0, n_labels, n).tolist(),
            b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), b"filenames": [b"img_%d.png" % i for i in range(n)]}


def write_tar(path, members: dict[str, bytes]):
    with tarfile.open(path, "w:gz") as tar:
        for name, raw in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    return path


def make_cifar10(root, n=4, seed=0):
    rng = np.random.default_rng(seed)
    folder = "cifar-10-batches-py"
    members = {f"{folder}/data_batch_{i}": official_pickle(batch(n, rng)) for i in range(1, 6)}
    members[f"{folder}/test_batch"] = official_pickle(batch(3, rng))
    names = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]
    members[f"{folder}/batches.meta"] = official_pickle({b"label_names": names, b"num_cases_per_batch": n, b"num_vis": 3072})
    members[f"{folder}/readme.html"] = b"<html></html>"
    root.mkdir(parents=True, exist_ok=True)
    return write_tar(root / "cifar-10-python.tar.gz", members), members


def make_cifar100(root, seed=0):
    rng = np.random.default_rng(seed)
    def split(n):
        b = batch(n, rng, "fine_labels", 100)
        b[b"coarse_labels"] = rng.integers(0, 20, n).tolist()
        return b
    meta = {b"fine_label_names": [b"fine%d" % i for i in range(100)], b"coarse_label_names": [b"coarse%d" % i for i in range(20)]}
    members = {"cifar-100-python/train": official_pickle(split(6)), "cifar-100-python/test": official_pickle(split(2)),
               "cifar-100-python/meta": official_pickle(meta)}
    root.mkdir(parents=True, exist_ok=True)
    return write_tar(root / "cifar-100-python.tar.gz", members), members


def test_cifar10_reads_the_official_layout(tmp_path):
    _, members = make_cifar10(tmp_path)
    d = load_dataset("cifar10", root=tmp_path)
    assert d.x_train.shape == (20, 3, 32, 32) and d.x_test.shape == (3, 3, 32, 32)
    assert d.class_names[0] == "airplane" and d.n_classes == 10
    first = pickle.loads(members["cifar-10-batches-py/data_batch_1"], encoding="bytes")
    # row layout: 1024 red values, then green, then blue, each a 32x32 image in row-major order
    for c, h, w in [(0, 0, 0), (1, 5, 7), (2, 31, 30)]:
        assert d.x_train[0, c, h, w] == pytest.approx(first[b"data"][0, c * 1024 + h * 32 + w] / 255)
    assert d.y_train[:4].tolist() == first[b"labels"]


def test_cifar100_fine_and_coarse_labels(tmp_path):
    _, members = make_cifar100(tmp_path)
    train = pickle.loads(members["cifar-100-python/train"], encoding="bytes")
    fine, coarse = load_dataset("cifar100", root=tmp_path), load_dataset("cifar100", root=tmp_path, labels="coarse")
    assert fine.n_classes == 100 and coarse.n_classes == 20 and coarse.class_names[3] == "coarse3"
    assert fine.y_train.tolist() == train[b"fine_labels"] and coarse.y_train.tolist() == train[b"coarse_labels"]
    with pytest.raises(ValueError, match="'fine' or 'coarse'"):
        load_dataset("cifar100", root=tmp_path, labels="super")


def test_missing_file_names_the_file_and_the_fetch_command(tmp_path):
    with pytest.raises(DatasetFileError) as e:
        load_dataset("cifar10", root=tmp_path)
    assert str(tmp_path / "cifar-10-python.tar.gz") in str(e.value)
    assert "repl-nb data download cifar10" in str(e.value)


def test_truncated_tarball_is_reported_as_corrupt(tmp_path):
    path, _ = make_cifar10(tmp_path)
    path.write_bytes(path.read_bytes()[: os.path.getsize(path) // 2])
    with pytest.raises(DatasetFileError, match="corrupt or truncated") as e:
        load_dataset("cifar10", root=tmp_path)
    assert str(path) in str(e.value) and "repl-nb data download cifar10" in str(e.value)


def test_archive_missing_members_is_named(tmp_path):
    write_tar(tmp_path / "cifar-10-python.tar.gz", {"cifar-10-batches-py/data_batch_1": official_pickle(batch(2, np.random.default_rng()))})
    with pytest.raises(DatasetFileError, match="lacks .*test_batch"):
        load_dataset("cifar10", root=tmp_path)


def test_a_pickle_that_would_run_code_is_refused(tmp_path):
    class Exploit:
        def __reduce__(self):
            return (os.system, ("touch " + str(tmp_path / "pwned"),))
    _, members = make_cifar10(tmp_path)
    members["cifar-10-batches-py/test_batch"] = pickle.dumps(Exploit(), protocol=2)
    write_tar(tmp_path / "cifar-10-python.tar.gz", members)
    with pytest.raises(DatasetFileError, match="holds code, not just arrays, and was refused unread .*asks to import posix.system") as e:
        load_dataset("cifar10", root=tmp_path)
    assert not (tmp_path / "pwned").exists()
    assert "corrupt" not in str(e.value)


def test_unknown_dataset_lists_the_available_ones():
    with pytest.raises(ValueError, match="Unknown dataset 'cifar11'. Available: .*cifar10.*digits"):
        load_dataset("cifar11")


def test_download_verifies_the_checksum(tmp_path, monkeypatch):
    archive, _ = make_cifar10(tmp_path / "remote")
    url = archive.as_uri()  # a local file: nothing leaves the machine
    with pytest.raises(DatasetFileError, match="Checksum mismatch for cifar-10-python.tar.gz"):
        download_dataset("cifar10", root=tmp_path / "data", url=url, progress=False)
    assert not (tmp_path / "data" / "cifar-10-python.tar.gz").exists()  # nothing half-good left behind
    good = hashlib.md5(archive.read_bytes()).hexdigest()
    monkeypatch.setitem(D.DOWNLOADS, "cifar10", D.Download(url, "cifar-10-python.tar.gz", good))
    path = download_dataset("cifar10", root=tmp_path / "data", progress=False)
    assert load_dataset("cifar10", root=tmp_path / "data").x_train.shape[0] == 20 and path.exists()


def test_imagefolder_layout_errors(tmp_path):
    (tmp_path / "train" / "a").mkdir(parents=True)
    (tmp_path / "val" / "b").mkdir(parents=True)
    with pytest.raises(DatasetFileError, match="class folders absent"):
        load_dataset("imagefolder", path=tmp_path)
    (tmp_path / "val" / "b").rmdir()
    (tmp_path / "val" / "a").mkdir()
    with pytest.raises(DatasetFileError, match="holds no images"):
        load_dataset("imagefolder", path=tmp_path, progress=False)
    (tmp_path / "train" / "a" / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(DatasetFileError, match="Cannot read image .*broken.jpg"):
        load_dataset("imagefolder", path=tmp_path, progress=False)


def test_mnist1d_cache_is_npz_not_pickle(tmp_path):
    d = load_dataset("mnist1d", root=tmp_path, num_samples=300)
    cache = next(tmp_path.glob("mnist1d-*.npz"))
    with np.load(cache, allow_pickle=False) as f:
        assert torch.equal(torch.as_tensor(f["x"]).float(), d.x_train)

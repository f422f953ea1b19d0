"""mnist.load_data: the packaged files, user folders (gzipped or plain), .npz files and $TWEAKNET_DATA.

Expected values come from /work/shared/data/mnist/README.md (independent of the loader).
"""
import gzip
import hashlib
import os
import shutil
import subprocess
import sys
from importlib import resources

import numpy as np
import pytest

import tweaknet
from tweaknet.datasets import DataError, mnist

STEMS = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
README_SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
# sha256 of each array's raw bytes, taken independently of the loader: the decompressed IDX file past
# its header (16 bytes for images, 8 for labels); see test_array_checksums_are_the_idx_payloads.
PAYLOAD_SHA256 = {
    "x_train": "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
    "y_train": "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13",
    "x_test": "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
    "y_test": "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5",
}
PACKAGED = resources.files("tweaknet.datasets") / "data" / "mnist"


@pytest.fixture(scope="module")
def data():
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("TWEAKNET_DATA", raising=False)
        return tweaknet.datasets.mnist.load_data()


@pytest.fixture(autouse=True)
def no_env(monkeypatch):
    monkeypatch.delenv("TWEAKNET_DATA", raising=False)


def assert_same(a, b):
    for pa, pb in zip(a, b):
        for xa, xb in zip(pa, pb):
            assert xa.dtype == xb.dtype
            np.testing.assert_array_equal(xa, xb)


def plain_folder(path, skip=()):
    path.mkdir()
    for stem in STEMS:
        if stem not in skip:
            (path / stem).write_bytes(gzip.decompress((PACKAGED / (stem + ".gz")).read_bytes()))
    return path


def save_npz(path, data, **override):
    (x_train, y_train), (x_test, y_test) = data
    arrays = dict(x_train=x_train[:50], y_train=y_train[:50], x_test=x_test[:20], y_test=y_test[:20])
    arrays.update(override)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return path


def test_packaged_files_match_readme_checksums():
    for stem in STEMS:
        raw = gzip.decompress((PACKAGED / (stem + ".gz")).read_bytes())
        assert hashlib.sha256(raw).hexdigest() == README_SHA256[stem]


def test_shapes_and_dtypes(data):
    (x_train, y_train), (x_test, y_test) = data
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert y_train.shape == (60000,) and y_test.shape == (10000,)
    assert all(a.dtype == np.uint8 for a in (x_train, y_train, x_test, y_test))


def test_labels_match_readme(data):
    (_, y_train), (_, y_test) = data
    assert y_train[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert y_test[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert np.bincount(y_train, minlength=10).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert np.bincount(y_test, minlength=10).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_pixel_statistics_match_readme(data):
    x_train = data[0][0]
    assert x_train.min() == 0 and x_train.max() == 255
    assert abs(x_train.mean(dtype=np.float64) - 33.318) < 5e-4
    assert abs(x_train.std(dtype=np.float64) - 78.567) < 5e-4


def test_returned_arrays_are_private_copies(data):
    (x_train, y_train), _ = mnist.load_data()
    x_train[0] = 7
    y_train[:] = 3
    (x_again, y_again), _ = mnist.load_data()
    np.testing.assert_array_equal(x_again[0], data[0][0][0])
    assert y_again[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]


def test_folder_of_plain_files(tmp_path, data):
    folder = plain_folder(tmp_path / "plain")
    assert_same(mnist.load_data(folder), data)
    assert_same(mnist.load_data(str(folder)), data)


def test_env_var_folder_of_gz_files_and_root_with_mnist_subfolder(tmp_path, monkeypatch, data):
    shutil.copytree(PACKAGED, tmp_path / "mnist")
    monkeypatch.setenv("TWEAKNET_DATA", str(tmp_path / "mnist"))
    assert_same(mnist.load_data(), data)
    monkeypatch.setenv("TWEAKNET_DATA", str(tmp_path))  # a data root holding mnist/
    assert_same(mnist.load_data(), data)


def test_path_argument_beats_env_var(tmp_path, monkeypatch, data):
    monkeypatch.setenv("TWEAKNET_DATA", str(tmp_path / "does-not-exist"))
    with pytest.raises(DataError, match=r"does-not-exist \(from \$TWEAKNET_DATA\): no such file or folder"):
        mnist.load_data()
    npz = save_npz(tmp_path / "mnist.npz", data)
    (x_train, y_train), (x_test, _) = mnist.load_data(npz, verify=False)
    assert x_train.shape == (50, 28, 28) and x_test.shape == (20, 28, 28)


def test_npz(tmp_path, data):
    path = tmp_path / "mnist.npz"
    (x_train, y_train), (x_test, y_test) = data
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    assert_same(mnist.load_data(path), data)


def test_npz_missing_key(tmp_path, data):
    path = save_npz(tmp_path / "m.npz", data, y_test=None)
    with pytest.raises(DataError, match="m.npz: missing key.* y_test; expected x_train, y_train, x_test, y_test"):
        mnist.load_data(path)


@pytest.mark.parametrize("key, value, match", [
    ("x_train", np.zeros((50, 784), np.uint8), r"x_train has shape \(50, 784\), expected \(n, 28, 28\)"),
    ("y_test", np.zeros((20, 1), np.uint8), r"y_test has shape \(20, 1\), expected \(n,\)"),
    ("x_test", np.zeros((20, 28, 28), np.float32), "x_test has dtype float32, expected uint8"),
    ("y_train", np.zeros(49, np.uint8), "x_train has 50 images but y_train has 49 labels"),
    ("y_train", np.full(50, 10, np.uint8), "label 10, expected digits 0..9"),
])
def test_npz_wrong_layout_without_verify(tmp_path, data, key, value, match):
    path = save_npz(tmp_path / "m.npz", data, **{key: value})
    with pytest.raises(DataError, match=match):
        mnist.load_data(path, verify=False)


def test_corrupt_npz(tmp_path, data):
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"this is not a zip archive" * 10)
    with pytest.raises(DataError, match="garbage.npz: not a readable .npz") as err:
        mnist.load_data(garbage)
    assert "pickle" not in str(err.value)
    good = save_npz(tmp_path / "good.npz", data).read_bytes()
    cut = tmp_path / "cut.npz"
    cut.write_bytes(good[: len(good) // 2])
    with pytest.raises(DataError, match="cut.npz"):
        mnist.load_data(cut)
    single = tmp_path / "single.npy"
    np.save(single, np.zeros(3))
    with pytest.raises(DataError, match=r"single.npy \(from `path`\): expected a folder .* or a Keras mnist.npz"):
        mnist.load_data(single)
    npy_named_npz = tmp_path / "array.npz"
    npy_named_npz.write_bytes(single.read_bytes())
    with pytest.raises(DataError, match="array.npz: holds a single array"):
        mnist.load_data(npy_named_npz)


def test_folder_checksum_mismatch(tmp_path):
    folder = plain_folder(tmp_path / "plain")
    raw = bytearray((folder / "train-labels-idx1-ubyte").read_bytes())
    raw[8] = (raw[8] + 1) % 10  # a different but valid first label: the structure stays correct
    (folder / "train-labels-idx1-ubyte").write_bytes(bytes(raw))
    with pytest.raises(DataError) as err:
        mnist.load_data(folder)
    msg = str(err.value)
    assert "train-labels-idx1-ubyte" in msg and "checksum" in msg
    assert README_SHA256["train-labels-idx1-ubyte"] in msg and hashlib.sha256(bytes(raw)).hexdigest() in msg


def test_folder_missing_file(tmp_path):
    folder = plain_folder(tmp_path / "plain", skip=("t10k-images-idx3-ubyte",))
    with pytest.raises(DataError, match="missing MNIST file.* t10k-images-idx3-ubyte "):
        mnist.load_data(folder)
    with pytest.raises(DataError, match="missing MNIST file"):
        (tmp_path / "empty").mkdir()
        mnist.load_data(tmp_path / "empty")


def test_array_checksums_are_the_idx_payloads():
    for key, stem, header in [("x_train", STEMS[0], 16), ("y_train", STEMS[1], 8),
                              ("x_test", STEMS[2], 16), ("y_test", STEMS[3], 8)]:
        raw = gzip.decompress((PACKAGED / (stem + ".gz")).read_bytes())
        assert hashlib.sha256(raw[header:]).hexdigest() == PAYLOAD_SHA256[key] == mnist.ARRAY_SHA256[key]


def test_npz_with_the_original_arrays_loads_verified(tmp_path, data):
    (x_train, y_train), (x_test, y_test) = data
    path = tmp_path / "keras-mnist.npz"  # the layout of Keras's mnist.npz, compressed or not
    np.savez_compressed(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    loaded = mnist.load_data(path)
    assert_same(loaded, data)
    assert loaded[0][0].flags.writeable


def full_npz(path, data, **override):
    (x_train, y_train), (x_test, y_test) = data
    arrays = dict(x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    arrays.update(override)
    np.savez(path, **arrays)
    return path


def test_npz_of_other_images_is_rejected(tmp_path, data):
    rng = np.random.default_rng(0)
    path = full_npz(tmp_path / "mnist.npz", data, x_train=rng.integers(0, 256, (60000, 28, 28), dtype=np.uint8),
                    y_train=rng.integers(0, 10, 60000, dtype=np.uint8))
    with pytest.raises(DataError) as err:
        mnist.load_data(path)
    msg = str(err.value)
    found = hashlib.sha256(np.load(path)["x_train"].tobytes()).hexdigest()
    assert str(path) in msg and "x_train is not the original MNIST" in msg
    assert PAYLOAD_SHA256["x_train"] in msg and found in msg and "(60000, 28, 28)" in msg
    assert "$TWEAKNET_DATA or path=" in msg and "verify=False" in msg
    assert mnist.load_data(path, verify=False)[0][0].shape == (60000, 28, 28)  # the escape hatch


def test_npz_with_one_label_changed_is_rejected(tmp_path, data):
    y_test = data[1][1].copy()
    y_test[-1] = (y_test[-1] + 1) % 10
    path = full_npz(tmp_path / "mnist.npz", data, y_test=y_test)
    with pytest.raises(DataError, match=r"mnist.npz: y_test is not the original MNIST: expected shape \(10000,\) with sha256 "
                                        + PAYLOAD_SHA256["y_test"]):
        mnist.load_data(path)


@pytest.mark.parametrize("key", ["x_train", "y_test"])
def test_npz_with_wrong_counts_is_rejected(tmp_path, data, key):
    path = full_npz(tmp_path / "m.npz", data, **{key: {"x_train": data[0][0][:59999], "y_test": data[1][1][:50]}[key]})
    want, got = {"x_train": ("(60000, 28, 28)", "(59999, 28, 28)"), "y_test": ("(10000,)", "(50,)")}[key]
    with pytest.raises(DataError) as err:
        mnist.load_data(path)
    msg = str(err.value)
    assert "m.npz" in msg and f"{key} is not the original MNIST" in msg
    assert f"expected shape {want}" in msg and f"found shape {got}" in msg
    path = save_npz(tmp_path / "subset.npz", data)  # 50 + 20 samples of the real data
    with pytest.raises(DataError, match=r"subset.npz: x_train .* found shape \(50, 28, 28\)"):
        mnist.load_data(path)


def test_folder_subset_needs_verify_false(tmp_path, data):
    folder = tmp_path / "small"
    folder.mkdir()
    (x_train, y_train), (x_test, y_test) = data
    for stem, arr in zip(STEMS, (x_train[:30], y_train[:30], x_test[:10], y_test[:10])):
        magic = bytes([0, 0, 8, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
        (folder / (stem + ".gz")).write_bytes(gzip.compress(magic + arr.tobytes()))
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz: wrong shape: expected 60000x28x28, found 30x28x28"):
        mnist.load_data(folder)
    (a, b), (c, d) = mnist.load_data(folder, verify=False)
    assert a.shape == (30, 28, 28) and d.tolist() == y_test[:10].tolist()
    labels = bytes([0, 0, 8, 1]) + (29).to_bytes(4, "big") + y_train[:29].tobytes()
    (folder / (STEMS[1] + ".gz")).write_bytes(gzip.compress(labels))
    with pytest.raises(DataError, match="x_train has 30 images but y_train has 29 labels"):
        mnist.load_data(folder, verify=False)


def test_arrays_are_new_and_own_their_memory(data):
    (x1, y1), (t1, _) = mnist.load_data()
    (x2, y2), _ = mnist.load_data()
    for a in (x1, y1, t1):
        assert a.flags.writeable and a.flags.owndata and a.flags.c_contiguous
    assert not np.shares_memory(x1, x2) and not np.shares_memory(y1, y2)


def test_loading_holds_one_buffer_per_array():
    """In a fresh process, the peak of traced memory (numpy reports its buffers to tracemalloc) while
    loading stays near the size of the four arrays (no decompressed copy, no cached copy, no second copy
    handed out), and nothing is left once the caller drops them."""
    total = (60000 + 10000) * (28 * 28 + 1)
    script = (
        "import gc, tracemalloc\n"
        "from tweaknet.datasets import mnist\n"
        "tracemalloc.start()\n"
        "arrays = mnist.load_data()\n"
        "peak = tracemalloc.get_traced_memory()[1]\n"
        "size = sum(a.nbytes for pair in arrays for a in pair)\n"
        "del arrays; gc.collect()\n"
        "print(size, peak, tracemalloc.get_traced_memory()[0])\n")
    env = {k: v for k, v in os.environ.items() if k != "TWEAKNET_DATA"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
    size, peak, left = map(int, out.stdout.split())
    assert size == total
    assert peak < total + 4 * 2**20, f"peak {peak / 2**20:.1f} MiB for {total / 2**20:.1f} MiB of arrays"
    assert left < 2**20, f"{left / 2**20:.1f} MiB still held after the arrays were dropped"

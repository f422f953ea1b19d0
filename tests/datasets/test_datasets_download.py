"""``tweaknet data download``, exercised against a local folder (file:// URLs): tests never use the network."""
import gzip
import shutil
from importlib import resources

import numpy as np
import pytest

from tweaknet.cli import main
from tweaknet.datasets import mnist
from tweaknet.datasets.download import download_mnist
from tweaknet.datasets.idx import DataError

NAMES = [f"{stem}.gz" for stem, *_ in mnist.FILES.values()]


@pytest.fixture
def mirror(tmp_path):
    """A folder served as file://, holding copies of the packaged files."""
    folder = tmp_path / "mirror"
    folder.mkdir()
    packaged = resources.files("tweaknet.datasets") / "data" / "mnist"
    for name in NAMES:
        with resources.as_file(packaged / name) as src:
            shutil.copy(src, folder / name)
    return folder


def test_download_verifies_and_loads(tmp_path, mirror):
    dest = tmp_path / "dest"
    messages = []
    assert download_mnist(dest, mirror.as_uri(), log=messages.append) == dest
    assert sorted(p.name for p in dest.iterdir()) == sorted(NAMES)  # no temporary files left
    assert all("downloaded and verified" in m for m in messages)
    (x, y), (xt, yt) = mnist.load_data(dest)
    (px, py), (pxt, pyt) = mnist.load_data()
    assert np.array_equal(x, px) and np.array_equal(yt, pyt)
    messages.clear()
    download_mnist(dest, mirror.as_uri(), log=messages.append)  # present and correct: not fetched again
    assert all("present and verified" in m for m in messages)


def test_a_corrupt_download_is_refused_and_never_replaces_a_good_file(tmp_path, mirror):
    dest = tmp_path / "dest"
    download_mnist(dest, mirror.as_uri())
    good = (dest / NAMES[1]).read_bytes()
    labels = bytearray(gzip.decompress(good))
    labels[100] = (labels[100] + 1) % 10  # one label changed: a valid IDX file, but not MNIST
    (mirror / NAMES[1]).write_bytes(gzip.compress(bytes(labels)))
    (dest / NAMES[1]).write_bytes(good[:-20])  # the local copy is damaged, so it is fetched again
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte.gz: the download is not the original MNIST.*sha256"):
        download_mnist(dest, mirror.as_uri())
    assert (dest / NAMES[1]).read_bytes() == good[:-20]  # the old file is left as it was, not half-replaced
    assert not [p for p in dest.iterdir() if p.name.endswith(".part")]


def test_cli_reports_an_unreachable_source(tmp_path, capsys):
    assert main(["data", "download", "--dest", str(tmp_path / "d"), "--url", (tmp_path / "nothing").as_uri()]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tweaknet: error:") and "cannot be downloaded" in err


def test_cli_download_prints_how_to_use_the_folder(tmp_path, mirror, capsys):
    assert main(["data", "download", "--dest", str(tmp_path / "d"), "--url", mirror.as_uri()]) == 0
    assert "TWEAKNET_DATA=" in capsys.readouterr().out

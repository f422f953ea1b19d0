"""``tweaknet data download``: fetch MNIST's IDX files into a folder (see ``tweaknet.datasets.download``)."""
from __future__ import annotations

from pathlib import Path

from ..datasets.download import DEFAULT_URL, download_mnist
from ..datasets.idx import DataError
from .common import EXIT_OK, reporting


def register(sub) -> None:
    p = sub.add_parser("data", help="manage datasets (MNIST ships with tweaknet; this is optional)")
    data = p.add_subparsers(dest="data_command", metavar="ACTION")
    d = data.add_parser("download", help="download MNIST's IDX files into a folder, checked by sha256")
    d.add_argument("--dest", default=str(Path.home() / ".tweaknet" / "mnist"),
                   help="folder to write (default: ~/.tweaknet/mnist)")
    d.add_argument("--url", default=DEFAULT_URL, help=f"folder URL holding the four files (default {DEFAULT_URL})")
    d.set_defaults(func=download)


@reporting(DataError)
def download(args) -> int:
    folder = download_mnist(args.dest, args.url, log=print)
    print(f"MNIST is in {folder}: use it with TWEAKNET_DATA={folder} or load_data(path={str(folder)!r})")
    return EXIT_OK

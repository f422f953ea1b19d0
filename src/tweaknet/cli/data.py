"""``tweaknet data download``: fetch MNIST's IDX files into a folder (see ``tweaknet.datasets.download``)."""
from __future__ import annotations

import sys
from pathlib import Path

from ..datasets.download import DEFAULT_URL, download_mnist
from ..lab.outputs import output_folder
from .common import EXIT_OK, EXIT_USAGE


def register(sub) -> None:
    p = sub.add_parser("data", help="manage datasets (MNIST ships with tweaknet; this is optional)")
    data = p.add_subparsers(dest="data_command", metavar="ACTION")
    d = data.add_parser("download", help="download MNIST's IDX files into a folder, checked by sha256")
    d.add_argument("--dest", default=str(Path.home() / ".tweaknet" / "mnist"),
                   help="folder to write (default: ~/.tweaknet/mnist)")
    d.add_argument("--url", default=DEFAULT_URL, help=f"folder URL holding the four files (default {DEFAULT_URL})")
    d.set_defaults(func=download)
    p.set_defaults(func=lambda args: usage(p))


def usage(parser) -> int:
    """``tweaknet data`` without an action: its own help, not the top-level one."""
    parser.print_help(sys.stderr)
    return EXIT_USAGE


def download(args) -> int:
    folder = download_mnist(output_folder(args.dest, "--dest"), args.url, log=print)
    print(f"MNIST is in {folder}: use it with TWEAKNET_DATA={folder} or load_data(path={str(folder)!r})")
    return EXIT_OK

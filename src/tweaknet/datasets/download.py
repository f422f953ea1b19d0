"""Fetch the four MNIST IDX files into a folder, checked and written atomically (``tweaknet data download``).

Nothing in tweaknet downloads on its own: MNIST ships inside the package.  This is for a user who
wants a copy elsewhere (another machine's cache, a shared folder for ``TWEAKNET_DATA``).  Each file
is streamed into a temporary file in the destination folder, checked exactly as ``load_data``
checks it (magic number, dimensions, length, sha256 of the decompressed bytes), and only then
renamed over its final name, so an interrupted or corrupt download never leaves a damaged file
where a good one is expected.  Files already present and correct are not fetched again.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import urllib.request
from pathlib import Path

from .idx import DataError, read_idx
from .mnist import FILES

#: A mirror of the original files (the one torchvision uses); any folder URL holding the four
#: ``*.gz`` files works, ``file://`` included, because content is checked after the transfer.
DEFAULT_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"


def download_mnist(dest, base_url: str = DEFAULT_URL, timeout: float = 60.0, log=None) -> Path:
    """Download the MNIST IDX files from ``base_url`` into ``dest``; return the folder.

    Raises :class:`~tweaknet.datasets.idx.DataError` naming the URL and what was wrong (unreachable,
    not the original MNIST); nothing half-written is left behind.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    base = base_url if base_url.endswith("/") else base_url + "/"
    for stem, magic, shape, sha256 in FILES.values():
        name = f"{stem}.gz"
        target = dest / name
        if target.exists():
            try:
                read_idx(target, magic, shape, sha256)
                if log:
                    log(f"{target}: present and verified")
                continue
            except DataError:
                pass  # damaged or different: fetch it again, replacing it only once the new copy checks out
        url = base + name
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=dest)
        try:
            with os.fdopen(fd, "wb") as out:
                try:
                    with urllib.request.urlopen(url, timeout=timeout) as response:
                        shutil.copyfileobj(response, out, 1 << 20)
                except OSError as exc:
                    raise DataError(f"{url}: cannot be downloaded: {exc}") from None
                out.flush()
                os.fsync(out.fileno())
            try:
                read_idx(tmp, magic, shape, sha256)
            except DataError as exc:
                raise DataError(f"{url}: the download is not the original MNIST file: {exc}") from None
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        if log:
            log(f"{target}: downloaded and verified")
    return dest


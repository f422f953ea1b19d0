"""The IDX reader on small files written here: good ones, and each way a file can be wrong."""
import gzip
import hashlib

import numpy as np
import pytest

from tweaknet.datasets import DataError, read_idx
from tweaknet.datasets.idx import IMAGES_MAGIC, LABELS_MAGIC


def idx_bytes(arr, code=0x08, ndim=None, dims=None):
    """Build IDX bytes by hand (independently of the reader): magic, big-endian dims, payload."""
    arr = np.asarray(arr, dtype=np.uint8)
    dims = arr.shape if dims is None else dims
    ndim = len(dims) if ndim is None else ndim
    header = bytes([0, 0, code, ndim]) + b"".join(int(d).to_bytes(4, "big") for d in dims)
    return header + arr.tobytes()


def write(tmp_path, name, data, gz=False):
    path = tmp_path / name
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


@pytest.fixture
def images():
    return np.random.default_rng(0).integers(0, 256, size=(3, 4, 5), dtype=np.uint8)


@pytest.mark.parametrize("gz", [False, True])
def test_good_file_roundtrips_with_all_checks(tmp_path, images, gz):
    raw = idx_bytes(images)
    path = write(tmp_path, "imgs-idx3-ubyte", raw, gz=gz)
    out = read_idx(path, IMAGES_MAGIC, (3, 4, 5), hashlib.sha256(raw).hexdigest())
    assert out.dtype == np.uint8 and out.shape == (3, 4, 5)
    np.testing.assert_array_equal(out, images)
    out[0, 0, 0] ^= 1  # a writeable array of its own
    assert read_idx(path)[0, 0, 0] == images[0, 0, 0]


def test_gzip_is_detected_by_content_not_by_name(tmp_path, images):
    raw = idx_bytes(images)
    gz_named_plain = write(tmp_path, "a.idx", raw, gz=True)
    plain_named_gz = write(tmp_path, "b.gz", raw, gz=False)
    np.testing.assert_array_equal(read_idx(gz_named_plain), images)
    np.testing.assert_array_equal(read_idx(plain_named_gz), images)


def test_labels_file_and_wildcard_shape(tmp_path):
    labels = np.array([5, 0, 4, 1, 9], dtype=np.uint8)
    path = write(tmp_path, "labels", idx_bytes(labels), gz=True)
    np.testing.assert_array_equal(read_idx(path, LABELS_MAGIC, (None,)), labels)


@pytest.mark.parametrize("gz", [False, True])
def test_truncated_payload(tmp_path, images, gz):
    path = write(tmp_path, "train-images-idx3-ubyte.gz", idx_bytes(images)[:-1], gz=gz)
    with pytest.raises(DataError) as err:
        read_idx(path)
    msg = str(err.value)
    assert "train-images-idx3-ubyte.gz" in msg and "truncated" in msg
    assert "3x4x5 = 60 bytes" in msg and "found 59" in msg


def test_truncated_header(tmp_path, images):
    path = write(tmp_path, "short", idx_bytes(images)[:10])
    with pytest.raises(DataError, match="truncated.*16 bytes, found 10"):
        read_idx(path)
    with pytest.raises(DataError, match="truncated"):
        read_idx(write(tmp_path, "tiny", b"\x00\x00"))


def test_truncated_gzip_stream(tmp_path, images):
    data = gzip.compress(idx_bytes(images))
    path = write(tmp_path, "cut.gz", data[: len(data) // 2])
    with pytest.raises(DataError, match="cut.gz: corrupt gzip"):
        read_idx(path)


def test_oversize_payload(tmp_path, images):
    path = write(tmp_path, "big", idx_bytes(images) + b"\x00\x07")
    with pytest.raises(DataError, match=r"big: oversize \(2 extra bytes\).*= 60 bytes of data, found 62"):
        read_idx(path)


def test_wrong_magic(tmp_path, images):
    path = write(tmp_path, "imgs", idx_bytes(images))
    with pytest.raises(DataError) as err:
        read_idx(path, expected_magic=LABELS_MAGIC)
    msg = str(err.value)
    assert "imgs" in msg and "wrong magic" in msg
    assert msg.index("0x00000801") < msg.index("0x00000803")  # expected, then found


def test_not_an_idx_file(tmp_path):
    path = write(tmp_path, "page.html", b"<html>" + bytes(100))
    with pytest.raises(DataError, match="page.html: not an IDX file"):
        read_idx(path)


def test_wrong_dtype_code(tmp_path, images):
    path = write(tmp_path, "floats", idx_bytes(images, code=0x0D))
    with pytest.raises(DataError, match=r"floats: unsupported dtype code: expected 0x08 \(uint8\), found 0x0D"):
        read_idx(path)
    with pytest.raises(DataError, match=r"expected 0x00000803 \(uint8, 3-D\), found 0x00000D03 \(float32"):
        read_idx(path, expected_magic=IMAGES_MAGIC)


def test_wrong_checksum(tmp_path, images):
    raw = idx_bytes(images)
    changed = bytearray(raw)
    changed[-1] ^= 0xFF
    path = write(tmp_path, "imgs.gz", bytes(changed), gz=True)
    expected = hashlib.sha256(raw).hexdigest()
    with pytest.raises(DataError) as err:
        read_idx(path, expected_sha256=expected)
    msg = str(err.value)
    assert "imgs.gz" in msg and "checksum" in msg
    assert expected in msg and hashlib.sha256(bytes(changed)).hexdigest() in msg


def test_wrong_ndim_and_shape(tmp_path, images):
    path = write(tmp_path, "imgs", idx_bytes(images))
    with pytest.raises(DataError, match=r"wrong number of dimensions: expected 2 \(3x20\), found 3 \(3x4x5\)"):
        read_idx(path, expected_shape=(3, 20))
    with pytest.raises(DataError, match="wrong shape: expected 3x4x6, found 3x4x5"):
        read_idx(path, expected_shape=(3, 4, 6))
    with pytest.raises(DataError, match="3-D"):
        read_idx(path, expected_magic=0x00000802)
    zero_d = write(tmp_path, "zero", bytes([0, 0, 8, 0]))
    with pytest.raises(DataError, match="0 dimensions"):
        read_idx(zero_d)


def test_missing_file_and_error_type(tmp_path):
    assert issubclass(DataError, ValueError)
    with pytest.raises(DataError, match="nope.gz: file not found"):
        read_idx(tmp_path / "nope.gz")


@pytest.mark.parametrize("gz", [False, True])
def test_huge_declared_size_is_reported_not_allocated(tmp_path, gz):
    dims = (2**32 - 1, 2**32 - 1, 2**20)  # ~2**84 bytes: allocating it would fail with MemoryError
    path = write(tmp_path, "liar", idx_bytes(np.zeros(7), dims=dims), gz=gz)
    with pytest.raises(DataError, match=r"liar: truncated: header declares 4294967295x4294967295x1048576 = \d+ "
                                        r"bytes of data, found 7"):
        read_idx(path)


def test_damaged_gzip_crc_is_detected(tmp_path, images):
    data = bytearray(gzip.compress(idx_bytes(images)))
    data[-8] ^= 0xFF  # the CRC32 of the trailer: the payload inflates fine but does not match it
    path = write(tmp_path, "crc.gz", bytes(data))
    with pytest.raises(DataError, match="crc.gz: corrupt gzip"):
        read_idx(path)


def test_result_owns_its_memory(tmp_path, images):
    out = read_idx(write(tmp_path, "imgs.gz", idx_bytes(images), gz=True))
    assert out.flags.owndata and out.flags.writeable and out.flags.c_contiguous and out.base is None


@pytest.mark.parametrize("gz", [False, True])
def test_streams_into_the_result_without_copies(tmp_path, gz):
    """Peak traced memory stays near the array's size (numpy reports its buffers to tracemalloc): the
    file is neither read whole nor decompressed into a second buffer, and the result is not copied."""
    import tracemalloc
    big = np.random.default_rng(1).integers(0, 4, size=(4000, 40, 50), dtype=np.uint8)  # 8 MB
    path = write(tmp_path, "big", idx_bytes(big), gz=gz)
    sha = hashlib.sha256(idx_bytes(big)).hexdigest()
    tracemalloc.start()
    try:
        out = read_idx(path, IMAGES_MAGIC, (4000, 40, 50), sha)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(out, big)
    assert peak < big.nbytes + 3 * 2**20, f"peak {peak / 2**20:.1f} MiB for {big.nbytes / 2**20:.1f} MiB"

"""download: tonic's download path with the network faked; nothing partial is ever left, errors say what to do."""

from __future__ import annotations

import hashlib
import io
import urllib.error
import zipfile
from pathlib import Path

import numpy as np
import pytest

tonic_datasets = pytest.importorskip("tonic.datasets")
import tonic.download_utils  # noqa: E402

from spacetime_snn.data.download import download_shd  # noqa: E402
from spacetime_snn.data.shd_format import SHD_FILES, read_shd_file, write_shd_file  # noqa: E402
from spacetime_snn.errors import DataError  # noqa: E402

SHD = tonic_datasets.SHD


def fake_zip(tmp_path: Path, h5_name: str, content: str = "valid") -> bytes:
    """A zip holding one small file named like SHD's: valid, `empty-sample` (HDF5 but invalid) or `garbage`."""
    source = tmp_path / "source" / h5_name
    if content == "garbage":
        source.parent.mkdir(parents=True, exist_ok=True)
        source.write_bytes(b"not hdf5")
    else:
        times = [np.array([0.1, 0.2])] + ([np.array([])] if content == "empty-sample" else [])
        units = [np.array([1, 2])] + ([np.array([])] if content == "empty-sample" else [])
        write_shd_file(source, times, units, [0] * len(times), [0] * len(times), ["zero"])
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.write(source, arcname=h5_name)
    return buffer.getvalue()


@pytest.fixture
def fake_server(tmp_path, monkeypatch):
    """Serve fake SHD zips to tonic instead of the network; returns the list of URLs tonic fetched."""
    zips = {SHD.base_url + SHD.train_zip: fake_zip(tmp_path, SHD_FILES["train"]),
            SHD.base_url + SHD.test_zip: fake_zip(tmp_path, SHD_FILES["test"])}
    fetched = []

    def retrieve(url, filename, chunk_size=1024):
        fetched.append(url)
        Path(filename).write_bytes(zips[url.replace("http:", "https:")])

    monkeypatch.setattr(tonic.download_utils, "_get_redirect_url", lambda url, max_hops=3: url)
    monkeypatch.setattr(tonic.download_utils, "_urlretrieve", retrieve)
    return zips, fetched


def use_md5_of(zips, monkeypatch):
    monkeypatch.setattr(SHD, "train_md5", hashlib.md5(zips[SHD.base_url + SHD.train_zip]).hexdigest())
    monkeypatch.setattr(SHD, "test_md5", hashlib.md5(zips[SHD.base_url + SHD.test_zip]).hexdigest())


def test_our_names_are_tonics():
    assert SHD.train_zip == SHD_FILES["train"] + ".zip" and SHD.test_zip == SHD_FILES["test"] + ".zip"


def test_download_through_tonic_leaves_only_validated_files(tmp_path, fake_server, monkeypatch):
    zips, fetched = fake_server
    use_md5_of(zips, monkeypatch)
    root = tmp_path / "shd"
    paths = download_shd(root)
    assert paths == (root / "shd_train.h5", root / "shd_test.h5")
    assert sorted(p.name for p in root.iterdir()) == ["shd_test.h5", "shd_train.h5"]
    assert len(fetched) == 2
    read_shd_file(paths[0])
    download_shd(root)  # present and valid: no second download
    assert len(fetched) == 2


def test_checksum_mismatch_keeps_nothing(tmp_path, fake_server):
    root = tmp_path / "shd"
    with pytest.raises(DataError) as error:
        download_shd(root)  # tonic's real md5 cannot match the fake zip
    message = str(error.value)
    assert SHD.base_url + SHD.train_zip in message and "nothing was kept" in message
    assert f"spacetime-snn data shd --root {root}" in message
    assert list(root.iterdir()) == []


def test_network_failure_explains_manual_placement(tmp_path, monkeypatch):
    def offline(url, filename, chunk_size=1024):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(tonic.download_utils, "_get_redirect_url", lambda url, max_hops=3: url)
    monkeypatch.setattr(tonic.download_utils, "_urlretrieve", offline)
    root = tmp_path / "shd"
    with pytest.raises(DataError) as error:
        download_shd(root)
    message = str(error.value)
    assert f"download {SHD.base_url + SHD.train_zip} (md5 {SHD.train_md5}) to {root / SHD.train_zip}" in message
    assert list(root.iterdir()) == []


def test_hand_placed_zip_is_verified_then_extracted_offline(tmp_path, fake_server, monkeypatch):
    zips, fetched = fake_server
    use_md5_of(zips, monkeypatch)
    root = tmp_path / "shd"
    root.mkdir()
    for zip_name in (SHD.train_zip, SHD.test_zip):
        (root / zip_name).write_bytes(zips[SHD.base_url + zip_name])
    download_shd(root)
    assert fetched == []
    assert (root / "shd_train.h5").exists() and (root / "shd_test.h5").exists()


def test_hand_placed_zip_with_wrong_md5_is_named_for_deletion(tmp_path, fake_server):
    root = tmp_path / "shd"
    root.mkdir()
    (root / SHD.train_zip).write_bytes(b"truncated")
    with pytest.raises(DataError) as error:
        download_shd(root)
    assert f"delete {root / SHD.train_zip}" in str(error.value) and "md5" in str(error.value)
    assert sorted(p.name for p in root.iterdir()) == [SHD.train_zip]


@pytest.mark.parametrize(("content", "complaint"), [("garbage", "extraction through tonic failed"),
                                                    ("empty-sample", "extracted shd_train.h5 is invalid")])
def test_invalid_archive_content_keeps_nothing(tmp_path, fake_server, monkeypatch, content, complaint):
    zips, _ = fake_server
    zips[SHD.base_url + SHD.train_zip] = fake_zip(tmp_path / "bad", SHD_FILES["train"], content)
    use_md5_of(zips, monkeypatch)
    root = tmp_path / "shd"
    with pytest.raises(DataError, match=complaint):
        download_shd(root)
    assert list(root.iterdir()) == []


def test_damaged_file_in_place_is_named(tmp_path):
    root = tmp_path / "shd"
    root.mkdir()
    (root / "shd_train.h5").write_bytes(b"half a download")
    with pytest.raises(DataError) as error:
        download_shd(root)
    assert f"delete {root / 'shd_train.h5'}" in str(error.value)
    assert f"spacetime-snn data shd --root {root}" in str(error.value)

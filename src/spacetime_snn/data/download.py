"""Fetch SHD through `tonic.datasets.SHD`, which downloads the zips and checks them against its own md5 sums.

The URL and checksums are tonic's (`SHD.base_url`, `SHD.train_zip`, `SHD.train_md5`, ...), read at call time,
never copied here. tonic downloads into a temporary folder inside `root`; only a validated `.h5` is moved into
place, so a failed or interrupted download leaves nothing that looks complete. Without a network, place the zips by
hand: a zip found in `root` is checked against tonic's md5 and then extracted without downloading.

Layout after success: `root/shd_train.h5`, `root/shd_test.h5` (data/shd_format.py, SHD_FILES).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from ..errors import DataError
from .shd_format import SHD_FILES, read_shd_file


def download_shd(root: str | os.PathLike) -> tuple[Path, Path]:
    """Make `root/shd_train.h5` and `root/shd_test.h5` present and valid; returns their paths.

    A file already in place is validated (a DataError names it if it is damaged), not downloaded again.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    return _ensure_split(root, "train"), _ensure_split(root, "test")


def _tonic_source(split: str) -> tuple[str, str, str]:
    """(zip name, URL, md5) of a split, from tonic's constants."""
    from tonic.datasets import SHD  # imported here: tonic pulls in torch and is needed only to download

    zip_name = SHD.train_zip if split == "train" else SHD.test_zip
    md5 = SHD.train_md5 if split == "train" else SHD.test_md5
    return zip_name, SHD.base_url + zip_name, md5


def _manual_hint(root: Path, split: str) -> str:
    zip_name, url, md5 = _tonic_source(split)
    return (
        f"to place the file by hand, download {url} (md5 {md5}) to {root / zip_name} and rerun "
        f"`spacetime-snn data shd --root {root}` (or rerun snakemake), or unzip it to {root / SHD_FILES[split]}"
    )


def _ensure_split(root: Path, split: str) -> Path:
    target = root / SHD_FILES[split]
    if target.exists():
        read_shd_file(target)
        return target
    from tonic.datasets import SHD
    from tonic.download_utils import check_integrity

    zip_name, url, md5 = _tonic_source(split)
    placed_zip = root / zip_name
    with tempfile.TemporaryDirectory(prefix=".shd-download-", dir=root) as tmp:
        staging = Path(tmp) / SHD.__name__  # tonic keeps its files in save_to/<class name>/
        staging.mkdir()
        if placed_zip.exists():
            if not check_integrity(str(placed_zip), md5):
                raise DataError(
                    f"{placed_zip}: md5 differs from tonic's {md5} (incomplete or wrong file). "
                    f"Fix: delete {placed_zip}, then rerun `spacetime-snn data shd --root {root}` to download it, "
                    f"or {_manual_hint(root, split)}."
                )
            shutil.copyfile(placed_zip, staging / zip_name)  # verified: tonic only extracts it
        try:
            SHD(save_to=tmp, train=split == "train")
        except Exception as error:  # tonic surfaces network, checksum and archive failures as assorted types
            raise DataError(
                f"{url}: download or extraction through tonic failed ({type(error).__name__}: {error}); nothing "
                f"was kept in {root}. Fix: rerun `spacetime-snn data shd --root {root}`; offline, "
                f"{_manual_hint(root, split)}."
            ) from error
        extracted = staging / SHD_FILES[split]
        try:
            read_shd_file(extracted)
        except DataError as error:
            raise DataError(
                f"{url}: the extracted {SHD_FILES[split]} is invalid ({error}); nothing was kept in {root}. "
                f"Fix: {_manual_hint(root, split)}."
            ) from error
        os.replace(extracted, target)
    return target

"""fetch's source handling (sqlforge.data.sources) against hostile folders and archives the tests build:
symlinks that lead out of the source, archives larger than the cap or than the free disk space."""

from __future__ import annotations

import inspect
import zipfile
from pathlib import Path

import pytest

from conftest import repo_params
from real_formats import make_spider
from sqlforge.data import sources
from sqlforge.data.sources import _extract, expand_nested_zips, materialize, tree_sha256
from sqlforge.io import InputError

CAP = repo_params().data.max_uncompressed_bytes


@pytest.fixture()
def secret(tmp_path) -> Path:
    """A file outside any dataset that a hostile source links to."""
    path = tmp_path / "home" / ".ssh" / "id_ed25519"
    path.parent.mkdir(parents=True)
    path.write_text("PRIVATE KEY\n")
    return path


@pytest.mark.parametrize("kind", ["file", "folder", "relative"])
def test_a_link_out_of_the_source_is_refused_naming_it(kind, tmp_path, secret):
    """A symlink inside a Spider folder leading outside it used to be copied into data/raw (the target's bytes
    with it). Refused, naming the link and its target, before anything is hashed or copied."""
    root = make_spider(tmp_path / "spider")
    if kind == "file":
        link = root / "database" / "pets_1" / "notes.txt"
        link.symlink_to(secret)
    elif kind == "folder":
        link = root / "database" / "keys"
        link.symlink_to(secret.parent, target_is_directory=True)
    else:  # ../.. out of the folder, written as a relative link
        link = root / "database" / "pets_1" / "up"
        link.symlink_to(Path("..") / ".." / ".." / "home", target_is_directory=True)
    out = tmp_path / "raw"
    out.mkdir()
    with pytest.raises(InputError) as e:
        materialize(str(root), "", out, "hint", CAP)
    message = str(e.value)
    assert message.startswith(f"{link}: a symbolic link to ") and "outside the source folder" in message
    assert "\n" not in message
    assert list(out.iterdir()) == []  # nothing copied
    with pytest.raises(InputError, match="outside the source folder"):
        tree_sha256(root)  # the hash (what data.sha256 pins) never reads the target either


def test_a_link_inside_the_source_is_still_copied(tmp_path):
    root = make_spider(tmp_path / "spider")
    (root / "database" / "pets_1" / "copy.sqlite").symlink_to(root / "database" / "pets_1" / "pets_1.sqlite")
    out = tmp_path / "raw"
    out.mkdir()
    materialize(str(root), "", out, "hint", CAP)
    assert (out / "database" / "pets_1" / "copy.sqlite").read_bytes() == \
        (root / "database" / "pets_1" / "pets_1.sqlite").read_bytes()


def small_zip(path: Path, size: int) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("spider/dev.json", b"\0" * size)
    return path


def test_an_archive_over_the_free_disk_space_is_refused_before_extracting(tmp_path):
    """The free space is measured where the archive would land; the test substitutes the measurement (1 MiB
    free) to reach the refusal without filling a disk. One line: the archive, the bytes needed, the bytes free."""
    archive = small_zip(tmp_path / "spider.zip", 4 << 20)
    out = tmp_path / "out"
    out.mkdir()
    asked = []

    def one_mib_free(path: Path) -> int:
        asked.append(path)
        return 1 << 20

    with pytest.raises(InputError) as e:
        _extract(archive, out, CAP, free_bytes=one_mib_free)
    assert str(e.value) == (f"{archive}: expands to 4,194,304 bytes, but only 1,048,576 bytes are free on the disk "
                            f"of {out}; free 3,145,728 bytes or more, then run fetch again")
    assert asked == [out] and list(out.iterdir()) == []
    # the real measurement (shutil.disk_usage) on the same call path: this disk has 4 MiB to spare
    assert sources.free_disk_bytes(out) > 4 << 20
    _extract(archive, out, CAP)
    assert (out / "spider" / "dev.json").stat().st_size == 4 << 20


def test_a_nested_zip_over_the_cap_is_refused_naming_it_inside_the_source(tmp_path):
    """BIRD's train_databases.zip inside train.zip: its own listing is checked against params.yaml's cap."""
    root = tmp_path / "bird"
    (root / "train").mkdir(parents=True)
    small_zip(root / "train" / "train_databases.zip", 2 << 20)
    with pytest.raises(InputError, match=r"^/data/train\.zip!/train/train_databases\.zip: expands to 2,097,152 "
                                         r"bytes, over the cap of 1,048,576 \(data\.max_uncompressed_bytes\)"):
        expand_nested_zips(root, 1 << 20, "/data/train.zip!")
    assert sorted(p.name for p in (root / "train").iterdir()) == ["train_databases.zip"]


def test_the_cap_lives_in_params_yaml_only():
    """No default in code: every caller passes data.max_uncompressed_bytes. params.yaml's value fits BIRD train
    (the largest release; its databases are part of BIRD's 33.4 GB) with room to spare, and is below the old
    64 GiB that let a 64 MB zip fill this machine's disk."""
    assert not hasattr(sources, "MAX_UNCOMPRESSED_BYTES")
    for function in (_extract, expand_nested_zips, materialize):
        parameter = inspect.signature(function).parameters["max_uncompressed_bytes"]
        assert parameter.default is inspect.Parameter.empty, function.__name__
    assert 1.4 * 33.4e9 < CAP < 64 << 30

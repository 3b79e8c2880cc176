"""One rule for unpacking model archives (saasbridge/sagemaker/safe_tar.py), through both front
doors: `saasbridge models import` (inference/archive.unpack) and the hosting stand-in
(local/sagemaker/model_archive.unpack_model). Links, special files, members outside the target and
archives over the size cap are refused, and nothing is written when one member is refused."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path, PurePosixPath

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from saasbridge.local.sagemaker.model_archive import ModelArchiveError, pack_model_dir, unpack_model
from saasbridge.sagemaker import safe_tar
from saasbridge.sagemaker.inference.archive import ModelImportError, unpack


def _tar(*members: tuple[tarfile.TarInfo, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for info, data in members:
            info.size = len(data) if info.isfile() else 0
            tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return buffer.getvalue()


def _file(name: str, data: bytes = b"x") -> tuple[tarfile.TarInfo, bytes]:
    return tarfile.TarInfo(name), data


def _special(name: str, kind: bytes, linkname: str = "") -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    return info, b""


def _import_door(data: bytes, into: Path) -> None:
    archive = into.parent / "model.tar.gz"
    archive.write_bytes(data)
    unpack(archive, into)


def _standin_door(data: bytes, into: Path) -> None:
    unpack_model(data, into)


DOORS = [pytest.param(_import_door, ModelImportError, id="models-import"),
         pytest.param(_standin_door, ModelArchiveError, id="hosting-standin")]  # fmt: skip

REFUSED = [
    pytest.param([_special("model.onnx", tarfile.SYMTYPE, "/etc/passwd")], "link or special file", id="symlink-out"),
    pytest.param([_file("a.onnx"), _special("b.onnx", tarfile.SYMTYPE, "a.onnx")], "link or special file",
                 id="symlink-inside"),
    pytest.param([_file("a.onnx"), _special("b.onnx", tarfile.LNKTYPE, "a.onnx")], "link or special file",
                 id="hardlink"),
    pytest.param([_special("dev", tarfile.CHRTYPE)], "link or special file", id="device"),
    pytest.param([_special("pipe", tarfile.FIFOTYPE)], "link or special file", id="fifo"),
    pytest.param([_file("ok.onnx"), _file("../escape.onnx")], "points outside the archive", id="dotdot"),
    pytest.param([_file("code/../../escape.onnx")], "points outside the archive", id="nested-dotdot"),
    pytest.param([_file("/abs/model.onnx")], "points outside the archive", id="absolute"),
]  # fmt: skip


@pytest.mark.parametrize("door, error", DOORS)
@pytest.mark.parametrize("members, reason", REFUSED)
def test_unsafe_members_are_refused_and_nothing_is_written(tmp_path, door, error, members, reason):
    into = tmp_path / "store" / "model"
    into.mkdir(parents=True)
    with pytest.raises(error, match=reason) as caught:
        door(_tar(*members), into)
    assert "\n" not in str(caught.value)
    assert list(into.iterdir()) == [] and not (tmp_path / "store" / "escape.onnx").exists()


@pytest.mark.parametrize("door, error", DOORS)
def test_archives_over_the_size_cap_are_refused(tmp_path, monkeypatch, door, error):
    monkeypatch.setattr(safe_tar, "MAX_UNPACKED_BYTES", 1000)  # the cap, not the code path, made small
    data = _tar(_file("model.onnx", b"m" * 600), _file("code/inference.py", b"p" * 401))
    (tmp_path / "model").mkdir()
    with pytest.raises(error, match="unpacks to 1001 bytes, over the 1000-byte limit"):
        door(data, tmp_path / "model")
    assert list((tmp_path / "model").iterdir()) == []
    door(_tar(_file("model.onnx", b"m" * 600), _file("code/inference.py", b"p" * 400)), tmp_path / "fits")
    assert (tmp_path / "fits" / "code" / "inference.py").read_bytes() == b"p" * 400


@pytest.mark.parametrize("door, error", DOORS)
def test_garbage_is_one_line(tmp_path, door, error):
    with pytest.raises(error, match="not a readable .tar.gz") as caught:
        door(b"not a tar at all", tmp_path / "model")
    assert "\n" not in str(caught.value)


def test_a_packed_model_dir_unpacks_to_the_same_files_with_symlinks_as_files(tmp_path):
    model = tmp_path / "model"
    (model / "code").mkdir(parents=True)
    (model / "model.joblib").write_bytes(os.urandom(64))
    (model / "code" / "inference.py").write_text("def model_fn(d): ...\n")
    (model / "weights.bin").symlink_to(model / "model.joblib")
    out = unpack_model(pack_model_dir(model), tmp_path / "out")
    assert {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()} == {
        "model.joblib", "code/inference.py", "weights.bin"}  # fmt: skip
    assert not (out / "weights.bin").is_symlink()
    assert (out / "weights.bin").read_bytes() == (model / "model.joblib").read_bytes()


names = st.lists(st.sampled_from(["a", "b", "..", ".", "code"]), min_size=1, max_size=4).map("/".join)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(names, min_size=1, max_size=3, unique=True))
def test_any_member_path_lands_inside_or_is_refused(tmp_path_factory, paths):
    root = tmp_path_factory.mktemp("unpack")
    into = root / "deep" / "model"
    try:
        unpack_model(_tar(*(_file(p, p.encode()) for p in paths)), into)
    except ModelArchiveError as exc:
        # refused: a `..` part, or two members that cannot both exist (`a` a file and `a/b`)
        assert any(".." in PurePosixPath(p).parts for p in paths) or "not a readable" in str(exc)
        return
    written = [p for p in root.rglob("*") if p.is_file()]
    assert all(into in p.parents for p in written)

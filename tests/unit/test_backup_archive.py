import json
import tarfile

import pytest

from jhdeploy.backup import DamagedArchive, files_under, read_verified, sha256, write_archive


def content(tmp_path):
    root = tmp_path / "content"
    (root / "database").mkdir(parents=True)
    (root / "database" / "jupyterhub.sqlite").write_bytes(b"SQLite format 3\x00" + bytes(range(256)) * 64)
    (root / "config").mkdir()
    (root / "config" / ".env").write_text("COMPOSE_PROJECT_NAME=lab\n")
    return root


def test_archive_is_owner_only_and_verifies(tmp_path):
    archive = tmp_path / "b.tar.gz"
    write_archive(files_under(content(tmp_path)), archive,
                  {"database": "sqlite", "secrets_archive": None, "user_volumes": []})
    assert archive.stat().st_mode & 0o077 == 0
    manifest = read_verified(archive)
    assert set(manifest["files"]) == {"database/jupyterhub.sqlite", "config/.env"}


def test_extraction_restores_the_same_bytes(tmp_path):
    source = content(tmp_path)
    archive = tmp_path / "b.tar.gz"
    write_archive(files_under(source), archive, {"secrets_archive": None})
    read_verified(archive, into=tmp_path / "out")
    assert (tmp_path / "out/database/jupyterhub.sqlite").read_bytes() == (
        source / "database/jupyterhub.sqlite").read_bytes()


def test_one_flipped_byte_is_refused(tmp_path):
    archive = tmp_path / "b.tar.gz"
    write_archive(files_under(content(tmp_path)), archive, {"secrets_archive": None})
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0x01
    archive.write_bytes(bytes(data))
    with pytest.raises(DamagedArchive):
        read_verified(archive)


def test_a_file_that_disagrees_with_the_manifest_is_refused(tmp_path):
    archive = tmp_path / "b.tar.gz"
    source = content(tmp_path)
    manifest = {"format": 2, "secrets_archive": None, "files": {"config/.env": "0" * 64}}
    with tarfile.open(archive, "w:gz") as tar:
        (tmp_path / "MANIFEST.json").write_text(json.dumps(manifest))
        tar.add(tmp_path / "MANIFEST.json", arcname="MANIFEST.json")
        tar.add(source / "config/.env", arcname="config/.env")
    with pytest.raises(DamagedArchive, match="checksums do not match the manifest for \\['config/.env'\\]"):
        read_verified(archive)


def test_the_secrets_archive_is_checked_too(tmp_path):
    secrets = tmp_path / "b-secrets.tar.gz"
    secrets.write_bytes(b"secret archive")
    archive = tmp_path / "b.tar.gz"
    write_archive(files_under(content(tmp_path)), archive,
                  {"secrets_archive": {"name": secrets.name, "sha256": sha256(secrets)}})
    read_verified(archive)
    secrets.write_bytes(b"tampered")
    with pytest.raises(DamagedArchive, match="b-secrets.tar.gz is missing or does not match"):
        read_verified(archive)

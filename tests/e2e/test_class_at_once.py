"""Issue 30: a class that logs in at the same minute: 30 users at once all get a server, paced by the
start queue, each told their place. Keeps the concurrency path in CI; the figures are in
benchmarks/classroom.py, not here."""

from __future__ import annotations

import concurrent.futures
import re

import pytest
from harness import USERLIST, docker

pytestmark = pytest.mark.e2e

CLASS = [f"student{i:02d}" for i in range(1, 31)]
WAITING = re.compile(r"Waiting to start: (\d+) of (\d+) in the queue, (\d+) server\(s\) starting now")


@pytest.fixture(scope="module")
def hub(deployment):
    # Two at a time: a queue on any machine, whatever its cores.
    deployment.env["SPAWN_CONCURRENCY"] = "2"
    deployment.write_env()
    (deployment.root / "userlist").write_text(USERLIST + "".join(f"{name}\n" for name in CLASS))
    deployment.invoke("build")
    deployment.invoke("start")
    return deployment


def messages(events: list[dict]) -> list[str]:
    return [event.get("message", "") for event in events]


def test_one_user_alone_does_not_wait_for_the_queue(hub):
    client = hub.logged_in("alice")
    events = client.progress("alice")
    assert events[-1].get("ready"), events
    assert not any(WAITING.match(m) for m in messages(events)), messages(events)
    client.api("DELETE", "/users/alice/server")


def test_thirty_users_at_once_all_get_a_server_and_see_their_place(hub):
    def student(name: str) -> tuple[list[dict], int | str]:
        client = hub.logged_in(name)  # the login form starts the server, as a student's browser does
        events = client.progress(name)
        lab = client.get(f"/user/{name}/lab")  # then JupyterLab opens, through the hub's OAuth
        return events, lab.status_code if "JupyterLab" in lab.text else f"{lab.status_code}, not JupyterLab"

    with concurrent.futures.ThreadPoolExecutor(len(CLASS)) as pool:
        results = dict(zip(CLASS, pool.map(student, CLASS), strict=True))

    not_ready = {name: messages(events)[-3:] for name, (events, _) in results.items() if not events[-1].get("ready")}
    assert not not_ready, not_ready
    assert all(status == 200 for _, status in results.values()), {n: s for n, (_, s) in results.items()}

    waits = {name: [tuple(map(int, WAITING.match(m).groups())) for m in messages(events) if WAITING.match(m)]
             for name, (events, _) in results.items()}
    waited = [name for name, places in waits.items() if places]
    # Most of a class waits with two starting at a time; none saw more than two starting.
    assert len(waited) >= len(CLASS) // 2, waits
    for name in waited:
        places = [place for place, _, _ in waits[name]]
        assert places == sorted(places, reverse=True), (name, places)  # a place only moves forward
        assert all(starting <= 2 for _, _, starting in waits[name]), (name, waits[name])
        assert "Your turn: starting your server" in messages(results[name][0]), messages(results[name][0])

    # The servers run without the image's health check: nothing reads it, and 30 of them would cost a core.
    health = docker("inspect", "--format", "{{json .Config.Healthcheck}}", f"{hub.project}-{CLASS[0]}").stdout
    assert '"NONE"' in health, health

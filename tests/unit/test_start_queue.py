"""The start queue (jhdeploy_hub.startqueue), the spawner's use of it, and SPAWN_CONCURRENCY's defaults."""

import asyncio
import os
from types import SimpleNamespace

import pytest
from configs import applied, stack
from jhdeploy_hub.spawners import ReadyDockerSpawner
from jhdeploy_hub.startqueue import StartQueue

from jhdeploy import settings


def run(coroutine):
    return asyncio.run(coroutine)


async def settle():
    for _ in range(5):
        await asyncio.sleep(0)


def test_one_user_alone_never_waits():
    async def scenario():
        queue = StartQueue(2)
        await asyncio.wait_for(queue.join("alice"), timeout=0.1)
        assert queue.starting == {"alice"} and queue.place("alice") is None
    run(scenario())


def test_the_queue_starts_at_most_its_size_first_come_first_served():
    async def scenario():
        queue, order = StartQueue(2), []

        async def user(name):
            await queue.join(name)
            order.append(name)

        tasks = [asyncio.create_task(user(f"u{i}")) for i in range(5)]
        await settle()
        assert order == ["u0", "u1"] and [queue.place(f"u{i}") for i in range(2, 5)] == [1, 2, 3]
        queue.release("u1")
        queue.release("u1")  # twice (start() and stop() both release): one place is freed, not two
        await settle()
        assert order == ["u0", "u1", "u2"] and len(queue.starting) == 2
        for name in ("u0", "u2", "u3"):
            queue.release(name)
        await asyncio.gather(*tasks)
        assert order == ["u0", "u1", "u2", "u3", "u4"]
    run(scenario())


def test_a_user_who_leaves_the_queue_gives_up_their_place_and_a_late_turn_goes_on():
    async def scenario():
        queue = StartQueue(1)
        await queue.join("a")
        leaving = asyncio.create_task(queue.join("b"))
        waiting = asyncio.create_task(queue.join("c"))
        await settle()
        leaving.cancel()
        await settle()
        assert queue.place("c") == 1 and "b" not in queue.waiting
        queue.release("a")
        await asyncio.wait_for(waiting, timeout=0.1)
        assert queue.starting == {"c"}
    run(scenario())


def test_the_wait_happens_before_start_and_the_place_is_shown(monkeypatch):
    """The spawn page tells each waiting user their place; the turn is taken before start(), and the
    next user goes once start() returns."""
    monkeypatch.setattr(ReadyDockerSpawner, "_queue", None)

    async def hook(_self):
        return None

    monkeypatch.setattr("jupyterhub.spawner.Spawner.run_pre_spawn_hook", hook)

    async def scenario():
        first, second = (ReadyDockerSpawner(start_concurrency=1) for _ in range(2))
        second.user = SimpleNamespace(name="bob")
        await first.run_pre_spawn_hook()
        waiting = asyncio.create_task(second.run_pre_spawn_hook())
        await settle()
        events = second.progress()
        assert (await events.__anext__())["message"] == ("Waiting to start: 1 of 1 in the queue, "
                                                         "1 server(s) starting now")
        assert not waiting.done()
        first._leave_queue()  # what start() does when it returns
        assert (await events.__anext__())["message"] == "Your turn: starting your server"
        await asyncio.wait_for(waiting, timeout=0.1)
        await events.aclose()
    run(scenario())


def test_spawn_concurrency_is_twice_the_cores_and_the_spawn_limit_leaves_room_for_a_class():
    cores = os.cpu_count()
    c = applied()
    assert c.DockerSpawner.start_concurrency == 2 * cores
    # JupyterHub's default of 100 counts waiting users: a class of 120 would be refused.
    assert c.JupyterHub.concurrent_spawn_limit == 500
    assert applied(SPAWN_CONCURRENCY="3").DockerSpawner.start_concurrency == 3
    assert applied(SPAWN_CONCURRENCY="0").DockerSpawner.start_concurrency == 0
    assert stack(mode="swarm").start_concurrency == 0  # the starts spread over the nodes
    assert stack(mode="swarm", SPAWN_CONCURRENCY="6").start_concurrency == 6


@pytest.mark.parametrize("value", ["-1", "four", "2.5", "AUTO "])
def test_a_bad_spawn_concurrency_names_the_key_and_what_is_allowed(value):
    with pytest.raises(settings.SettingsError) as error:
        settings.from_mapping({"SPAWN_CONCURRENCY": value})
    assert "SPAWN_CONCURRENCY" in str(error.value) and "auto, or a whole number 0 or more" in str(error.value)


def test_docker_calls_are_not_serialised_on_one_thread(monkeypatch):
    monkeypatch.setattr(ReadyDockerSpawner, "_threads", None)
    executor = ReadyDockerSpawner(docker_threads=8).executor
    assert executor._max_workers == 8
    assert ReadyDockerSpawner().executor is executor  # one pool for the hub

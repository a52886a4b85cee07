"""Issue 29: Swarm like one host: the fence in each server's namespace, pinned digests, spawns that wait for
the server rather than a health check, one-off jobs that leave no container, and a redeploy that waits."""

from __future__ import annotations

import json
import socket
import struct
import sys
import threading
import time
from pathlib import Path

import pytest
from configs import applied
from jhdeploy_hub import swarmfence

from jhdeploy import engine, swarm

REPO = Path(__file__).resolve().parents[2]

FIB_TRIE = """Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 127.0.0.0/8 2 0 2
        +-- 127.0.0.0/31 1 0 0
           |-- 127.0.0.0
              /8 host LOCAL
           |-- 127.0.0.1
              /32 host LOCAL
     +-- 172.18.0.0/16 2 0 2
        |-- 172.18.0.1
           /32 host LOCAL
        |-- 172.18.255.255
           /32 link BROADCAST
     |-- 192.168.5.20
        /32 host LOCAL
Local:
  +-- 0.0.0.0/0 3 0 5
     |-- 192.168.5.20
        /32 host LOCAL
"""


def test_a_node_knows_each_of_its_own_addresses_but_loopback_and_broadcasts(tmp_path):
    (tmp_path / "fib_trie").write_text(FIB_TRIE)
    assert swarmfence.node_addresses(tmp_path / "fib_trie") == {"172.18.0.1", "192.168.5.20"}


def test_a_servers_rules_let_in_only_the_hub_and_proxy_and_refuse_the_nodes_and_metadata_on_the_way_out():
    text = swarmfence.rules(["10.0.1.5", "10.0.1.6"], ["192.168.5.20", "192.168.5.21", swarmfence.METADATA])
    lines = text.splitlines()
    assert lines[0] == "*filter" and lines[-1] == "COMMIT"
    into = [line for line in lines if line.startswith("-A INPUT")]
    out = [line for line in lines if line.startswith("-A OUTPUT")]
    assert into == ["-A INPUT -i lo -j ACCEPT", "-A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
                    "-A INPUT -s 10.0.1.5/32 -j ACCEPT", "-A INPUT -s 10.0.1.6/32 -j ACCEPT",
                    "-A INPUT -m comment --comment jhdeploy-fence -j REJECT"]
    assert out[:2] == ["-A OUTPUT -o lo -j ACCEPT", "-A OUTPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT"]
    assert out[2:] == [f"-A OUTPUT -d {a} -m comment --comment jhdeploy-fence -j REJECT"
                       for a in ("192.168.5.20", "192.168.5.21", "169.254.169.254/32")]
    assert not any("FORWARD" in line and line.startswith("-A") for line in lines)


def dns_server(answer) -> tuple[socket.socket, int]:
    """A one-question DNS server on loopback: ANSWER(query) gives the reply's bytes."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))

    def serve():
        query, peer = sock.recvfrom(512)
        sock.sendto(answer(query), peer)
    threading.Thread(target=serve, daemon=True).start()
    return sock, sock.getsockname()[1]


def reply(query: bytes, *addresses: str, ident: int | None = None, cname: bool = False) -> bytes:
    """A reply as Docker's resolver words it: the question, then answers that point back at its name."""
    question = query[12:]
    header = struct.pack(">6H", struct.unpack(">H", query[:2])[0] if ident is None else ident, 0x8180, 1,
                         len(addresses) + cname, 0, 0)
    records = b""
    if cname:  # a record of another type first: skipped
        target = b"\x05other\x00"
        records += b"\xc0\x0c" + struct.pack(">HHIH", 5, 1, 600, len(target)) + target
    for address in addresses:
        records += b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 600, 4) + socket.inet_aton(address)
    return header + question + records


def test_the_hub_and_proxy_are_found_in_swarms_dns_answers():
    sock, port = dns_server(lambda q: reply(q, "10.0.1.5", "10.0.1.9", cname=True))
    with sock:
        assert swarmfence.resolve("tasks.lab_jupyterhub", ("127.0.0.1", port)) == ["10.0.1.5", "10.0.1.9"]
    sock, port = dns_server(lambda q: reply(q, "10.0.1.5", ident=(struct.unpack(">H", q[:2])[0] + 1) % 65536))
    with sock:
        assert swarmfence.resolve("tasks.lab_jupyterhub", ("127.0.0.1", port)) == []  # not our question's
    sock, port = dns_server(lambda q: reply(q))
    with sock:
        assert swarmfence.resolve("tasks.lab_proxy", ("127.0.0.1", port)) == []


def test_the_fences_health_check_needs_a_recent_round_that_fenced_every_server(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(swarmfence, "STATE", tmp_path / "state.json")
    assert swarmfence.check() == 1 and "no round yet" in capsys.readouterr().out
    fenced = {"time": time.time(), "fenced": ["lab-alice.1.x"], "failed": {}, "allowed": [], "refused": []}
    swarmfence.write_state(fenced)
    assert swarmfence.check() == 0
    assert capsys.readouterr().out == "fence: in force for 1 server(s) on this node\n"
    swarmfence.write_state({**fenced, "failed": {"lab-bob.1.y": "the hub's address is not known yet"}})
    assert swarmfence.check() == 1
    assert "NOT in force for lab-bob.1.y (the hub's address is not known yet)" in capsys.readouterr().out
    swarmfence.write_state({**fenced, "time": time.time() - 60})
    assert swarmfence.check() == 1 and "no round for 60 s" in capsys.readouterr().out


def test_swarm_spawns_skip_the_images_health_check_and_label_the_container_for_the_fence():
    c = applied(mode="swarm")
    spec = c.SwarmSpawner.extra_container_spec
    assert spec["healthcheck"] == {"Test": ["NONE"]} and spec["cap_drop"] == ["ALL"]
    assert list(spec["labels"].items()) == [("org.jhdeploy.stack", c.DockerSpawner.prefix)]
    assert "extra_container_spec" not in applied(mode="compose").SwarmSpawner


def test_a_swarm_service_is_created_with_arguments_docker_takes():
    """The Compose mode's container options (a health check) are no arguments of create_service."""
    import inspect
    from types import SimpleNamespace

    from docker import APIClient
    from jhdeploy_hub.spawners import VolumeSwarmSpawner

    spawner = VolumeSwarmSpawner(config=applied(mode="swarm"), user=SimpleNamespace(name="alice"))
    inspect.signature(APIClient.create_service).bind(None, task_template={}, name="jupyter-alice",
                                                     **spawner.extra_create_kwargs)
    assert set(spawner.extra_create_kwargs) == {"labels"}


def test_a_swarm_spawn_names_the_pushed_digest_and_a_bad_record_changes_nothing(tmp_path):
    from jhdeploy_hub.spawners import VolumeSwarmSpawner

    record = tmp_path / "image-digests.json"
    spawner, ours, other = VolumeSwarmSpawner(digests_file=str(record)), "registry:5000/jhd/nb:latest", "x:1"
    assert spawner.pinned_image(ours) == ours  # nothing pushed yet
    pinned = "registry:5000/jhd/nb@sha256:" + "a" * 64
    record.write_text(json.dumps({ours: pinned}))
    assert (spawner.pinned_image(ours), spawner.pinned_image(other)) == (pinned, other)
    for bad in (json.dumps({ours: "registry:5000/jhd/nb:v2"}), "[1]", "{trunc"):
        record.write_text(bad)
        assert spawner.pinned_image(ours) == ours


def test_a_tags_repository_keeps_the_registrys_port():
    assert swarm.repository("registry:5000/jhd/nb:latest") == "registry:5000/jhd/nb"
    assert swarm.repository("registry:5000/jhd/nb") == "registry:5000/jhd/nb"
    assert swarm.repository("nb:1.2") == "nb"


def probe_answering(answers: dict[str, str]):
    """engine.probe as an engine would answer: by the first key that the command line starts with."""
    def probe(c, argv):
        words = " ".join(argv)
        out = next((text for key, text in answers.items() if words.startswith(key)), None)
        return type("Result", (), {"ok": out is not None, "stdout": out or "", "stderr": ""})()
    return probe


def test_a_one_off_job_on_every_node_says_what_worked_and_what_failed_where(monkeypatch):
    logs = ("lab-prepull.abc.1@node2    | pulled\n"
            f"lab-prepull.abc.1@node2    | {swarm.JOB_DONE}0\n"
            "lab-prepull.abc.2@node3    | cannot pull: manifest unknown\n"
            f"lab-prepull.abc.2@node3    | {swarm.JOB_DONE}1\n"
            f"lab-prepull.abc.4@node5    | {swarm.JOB_DONE}7\n")
    tasks = ("node2\tRunning 3 seconds ago\t\nnode3\tRunning 3 seconds ago\t\n"
             "node4\tRejected 2 seconds ago\t\"No such image: nb@sha256:1\"\nnode5\tRunning 1 second ago\t\n"
             "node6\tPreparing 4 seconds ago\t\n")
    monkeypatch.setattr(engine, "probe", probe_answering({"docker service logs": logs, "docker service ps": tasks}))
    assert swarm.job_outcome(None, "lab-prepull") == {
        "node2": "", "node3": "cannot pull: manifest unknown", "node4": "No such image: nb@sha256:1",
        "node5": "exit status 7", "node6": None}


def test_a_redeploy_waits_for_a_new_hub_task_and_names_a_failed_one(monkeypatch):
    monkeypatch.setattr(time, "sleep", lambda seconds: None)
    rows = iter(["old1\tRunning 2 minutes ago\t\n", "",
                 "new1\tStarting 1 second ago\t\n", "new1\tRunning 1 second ago\t\n"])
    monkeypatch.setattr(engine, "probe", lambda c, argv: type("R", (), {"ok": True, "stdout": next(rows)})())
    swarm.wait_for_new_task(None, "lab_jupyterhub", {"old1"}, timeout=60)
    failed = iter(["new2\tRejected 1 second ago\tNo such image: hub@sha256:2\n"])
    monkeypatch.setattr(engine, "probe", lambda c, argv: type("R", (), {"ok": True, "stdout": next(failed)})())
    with pytest.raises(swarm.DeployError, match="new hub task rejected: No such image: hub@sha256:2.*swarm-deploy"):
        swarm.wait_for_new_task(None, "lab_jupyterhub", {"old1"}, timeout=60)


def test_the_server_and_the_hub_ask_the_systems_resolver_not_c_ares_cache(monkeypatch):
    """A redeployed hub (or proxy) has a new address: c-ares would keep Docker's 600 s answer (docs/scaling.md)."""
    import runpy

    import aiohttp.connector
    import aiohttp.resolver
    from traitlets.config import Config

    monkeypatch.setattr(aiohttp.connector, "DefaultResolver", aiohttp.resolver.AsyncResolver)
    runpy.run_path(str(REPO / "conf/notebook/jupyter_server_config.py"), init_globals={"get_config": Config})
    assert aiohttp.connector.DefaultResolver is aiohttp.resolver.ThreadedResolver
    monkeypatch.setattr(aiohttp.connector, "DefaultResolver", aiohttp.resolver.AsyncResolver)
    applied()
    assert aiohttp.connector.DefaultResolver is aiohttp.resolver.ThreadedResolver


def test_a_hub_without_aiohttp_loads_the_config(monkeypatch):
    """JupyterHub 5 (the upgrade path's older hub) has no aiohttp; its config must load all the same."""
    monkeypatch.setitem(sys.modules, "aiohttp", None)
    monkeypatch.setitem(sys.modules, "aiohttp.connector", None)
    applied()

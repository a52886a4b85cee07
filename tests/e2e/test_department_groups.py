"""Issue 26: groups from userlist with their own images, limits and folders (conf/groups.toml), enforced at
container creation and through the REST API; a move between groups reaches a user at their next start only."""

from __future__ import annotations

import json

import pytest
from harness import TEST_IMAGES, docker

pytestmark = pytest.mark.e2e

ML_IMAGE = "jhdtest-notebook-ml:latest"
USERS = "admin admin\nalice bio101\ntom bio101-staff\nmaria bio101 ml\n"
GROUPS = f"""\
[images.python]
image = "{TEST_IMAGES['LOCAL_NOTEBOOK_IMAGE']}"
display_name = "Python"
description = "The course image"

[images.ml]
image = "{ML_IMAGE}"
display_name = "Machine learning"
description = "The course image with the ML marker package"

[folders.materials]
mount = "/home/jovyan/materials"

[groups.bio101]
images = ["python"]
mem_limit = "1G"
folders = {{ materials = "ro" }}

[groups.bio101-staff]
images = ["python"]
mem_limit = "1536M"
folders = {{ materials = "rw" }}

[groups.ml]
images = ["python", "ml"]
mem_limit = "2G"
"""
GIB = 1024 ** 3


@pytest.fixture(scope="module")
def hub(deployment):
    (deployment.root / "userlist").write_text(USERS)
    (deployment.root / "conf/groups.toml").write_text(GROUPS)
    deployment.invoke("build")
    # The second image: the course image with one more package (a marker module), as a department would add.
    context = deployment.root / "ml-image"
    context.mkdir()
    (context / "mlmarker.py").write_text("GROUP = 'ml'\n")
    (context / "Dockerfile").write_text(
        f"FROM {TEST_IMAGES['LOCAL_NOTEBOOK_IMAGE']}\n"
        "COPY mlmarker.py /tmp/mlmarker.py\n"
        "RUN cp /tmp/mlmarker.py \"$(python3 -c 'import site; print(site.getsitepackages()[0])')/\"\n")
    docker("build", "--tag", ML_IMAGE, str(context))
    deployment.invoke("start")
    return deployment


def container(hub, user: str) -> dict:
    return json.loads(docker("inspect", f"{hub.project}-{user}").stdout)[0]


def test_alice_gets_the_bio101_image_and_limit_and_the_ml_image_is_refused(hub):
    alice = hub.logged_in("alice")  # one image: no form, her server starts at login
    alice.spawn("alice")
    inspected = container(hub, "alice")
    assert inspected["Config"]["Image"] == TEST_IMAGES["LOCAL_NOTEBOOK_IMAGE"]
    assert inspected["HostConfig"]["Memory"] == GIB
    alice.stop_server("alice")
    alice.wait_stopped("alice")
    refused = alice.api("POST", "/users/alice/server", json={"image": "ml"})
    assert refused.status_code == 400 and "not in allowed list: python" in refused.text, refused.text
    alice.wait_stopped("alice")
    alice.spawn("alice", options={"image": "python"})  # a start with no options repeats the last ones
    inspected = container(hub, "alice")
    assert inspected["Config"]["Image"] == TEST_IMAGES["LOCAL_NOTEBOOK_IMAGE"]
    assert inspected["HostConfig"]["Memory"] == GIB


def test_maria_chooses_from_both_images_and_gets_the_larger_limit(hub):
    maria = hub.logged_in("maria")
    maria.wait_stopped("maria")
    form = maria.get("/hub/spawn/maria").text
    assert "Machine learning" in form and "with the ML marker package" in form and 'value="python"' in form
    maria.spawn("maria", options={"image": "ml"})
    inspected = container(hub, "maria")
    assert inspected["Config"]["Image"] == ML_IMAGE and inspected["HostConfig"]["Memory"] == 2 * GIB
    assert maria.run_code("maria", "import mlmarker; print(mlmarker.GROUP)").strip() == "ml"


def test_staff_write_the_materials_that_students_only_read(hub):
    tom, alice = hub.logged_in("tom"), hub.logged_in("alice")
    tom.spawn("tom")
    alice.spawn("alice")
    tom.run_code("tom", "open('/home/jovyan/materials/week1.ipynb', 'w').write('{\"cells\": []}')")
    assert alice.run_code("alice", "print(open('/home/jovyan/materials/week1.ipynb').read())").strip() == \
        '{"cells": []}'
    said = alice.run_code("alice", "try:\n    open('/home/jovyan/materials/mine.txt', 'w')\n"
                                   "except OSError as error:\n    print(error.strerror)")
    assert "Read-only file system" in said
    assert alice.api("GET", "/users/alice").json()["servers"][""]["ready"]  # her server runs on
    owner = docker("run", "--rm", "--volume", f"{hub.project}-group-materials:/m", "--entrypoint", "stat",
                   TEST_IMAGES["LOCAL_HUB_IMAGE"], "-c", "%u:%g", "/m", "/m/week1.ipynb").stdout.split()
    assert owner == ["1000:100", "1000:100"]


def test_a_move_between_groups_reaches_maria_at_her_next_start_only(hub):
    maria = hub.logged_in("maria")
    maria.spawn("maria", options={"image": "ml"})
    before = container(hub, "maria")["Id"]
    (hub.root / "userlist").write_text(USERS.replace("maria bio101 ml", "maria bio101-staff"))
    hub.invoke("restart")
    assert container(hub, "maria")["Id"] == before  # untouched
    status = hub.invoke("status").stdout
    assert any(line.strip().startswith("maria:") and "older group settings" in line for line in status.splitlines())
    why = hub.invoke("groups", "--user", "maria").stdout
    assert "maria is in bio101-staff" in why
    assert any(line.split()[:2] == ["mem_limit", "1536M"] and line.endswith("from bio101-staff")
               for line in why.splitlines()), why
    maria = hub.logged_in("maria")
    maria.stop_server("maria")
    maria.wait_stopped("maria")
    refused = maria.api("POST", "/users/maria/server", json={"image": "ml"})
    assert refused.status_code == 400 and "not in allowed list: python" in refused.text
    maria.wait_stopped("maria")
    maria.spawn("maria", options={"image": "python"})
    inspected = container(hub, "maria")
    assert inspected["HostConfig"]["Memory"] == 1536 * 1024 ** 2
    maria.run_code("maria", "open('/home/jovyan/materials/from-maria.txt', 'w').write('staff now')")
    groups = {group["name"]: group["users"] for group in hub.logged_in("admin").api("GET", "/groups").json()}
    assert "maria" in groups["bio101-staff"] and "maria" not in groups.get("ml", [])

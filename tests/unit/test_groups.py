"""Groups: userlist's group names, conf/groups.toml checked line by line, one rule for several groups, and
the hub's plan (images, group_overrides, named servers) built from it."""

from pathlib import Path
from types import SimpleNamespace

import pytest
from configs import applied, stack
from jhdeploy_hub import groups as hub_groups
from jupyterhub.spawner import Spawner

from jhdeploy import groups, userlist
from jhdeploy.groups import GroupsError

DEPARTMENT = """\
[images.python]
image = "jupyterhub-user:latest"
display_name = "Python"
description = "The course image"

[images.ml]
image = "jupyterhub-user-ml:latest"
display_name = "Machine learning"
description = "With scikit-learn"

[folders.materials]
mount = "/home/jovyan/materials"

[folders.lab]
mount = "/home/jovyan/lab"

[groups.bio101]
images = ["python"]
mem_limit = "1G"
cpu_limit = 1
named_servers = 1
folders = { materials = "ro" }

[groups.bio101-staff]
images = ["python"]
mem_limit = "2G"
folders = { materials = "rw" }

[groups.ml]
images = ["python", "ml"]
mem_limit = "8G"
cpu_limit = 4
gpus = "all"
named_servers = 3
folders = { lab = "rw", materials = "ro" }
"""
USERS = "alice bio101\ntom bio101-staff\nmaria bio101 ml\nbob\n"
NB = "/home/jovyan/work"


def parse(text: str) -> groups.Groups:
    return groups.parse(text, NB, ("/home/jovyan/shared",))


def test_the_original_userlist_format_still_works_and_groups_follow_the_name():
    users = userlist.parse("# comment\njovyan admin\nbob\n\ntom admin bio101-staff\nmaria bio101 ml\n")
    assert users.allowed == {"jovyan", "bob", "tom", "maria"} and users.admins == {"jovyan", "tom"}
    assert users.groups == {"tom": ("bio101-staff",), "maria": ("bio101", "ml")}
    assert users.members() == {"bio101": ["maria"], "bio101-staff": ["tom"], "ml": ["maria"]}


@pytest.mark.parametrize("text, line, bad", [
    ("alice\nbob Bio101\n", 2, "'Bio101'"), ("alice\n\nbob bio101 admin\n", 3, "'admin'"),
    ("bob bio/101\n", 1, "'bio/101'")])
def test_a_bad_group_in_userlist_names_its_line(text, line, bad):
    with pytest.raises(userlist.UserlistError) as refused:
        userlist.parse(text)
    assert f"userlist, line {line}:" in str(refused.value) and bad in str(refused.value)


def test_a_department_file_is_taken():
    found = parse(DEPARTMENT)
    assert set(found.groups) == {"bio101", "bio101-staff", "ml"}


@pytest.mark.parametrize("edit, at, key, value, allowed", [
    (("[groups.ml]\n", "[groups.ml]\ncolour = 'blue'\n"), "colour", "colour", "'blue'", "one of the keys images"),
    (('images = ["python", "ml"]', 'images = ["python", "gpu"]'), '"gpu"', "images", "'gpu'",
     "an image of this file"),
    (('mem_limit = "1G"', 'mem_limit = "1GB"'), '"1GB"', "mem_limit", "'1GB'", "a size such as 512M or 2G"),
    (('mount = "/home/jovyan/lab"', 'mount = "/home/jovyan/materials"  # again'), "# again", "mount",
     "'/home/jovyan/materials'", "[folders.materials] is mounted there"),
    (('mount = "/home/jovyan/lab"', 'mount = "/home/jovyan"'), '"/home/jovyan"', "mount", "'/home/jovyan'",
     "does not cover the notebook directory"),
    (('mount = "/home/jovyan/lab"', 'mount = "/home/jovyan/shared"'), "shared", "mount", "'/home/jovyan/shared'",
     "SHARED_MOUNT"),
    (('mount = "/home/jovyan/lab"', 'mount = "/home/jovyan/lab"\nhost_path = "/etc"'), "host_path", "host_path",
     "'/etc'", "not /, a system folder or Docker's socket"),
    (("[groups.ml]", "[groups.ML]"), "[groups.ML]", "", "", "the name 'ML' is not allowed"),
    (('folders = { lab = "rw", materials = "ro" }', 'folders = { lab = "write" }'), "write", "folders",
     "{'lab': 'write'}", "ro (read-only) or rw"),
    (('gpus = "all"', 'gpus = "first"'), "first", "gpus", "'first'", "all, or device ids"),
])
def test_each_bad_value_names_the_file_line_key_value_and_what_is_allowed(edit, at, key, value, allowed):
    text = DEPARTMENT.replace(*edit)
    assert text != DEPARTMENT
    line = next(number for number, row in enumerate(text.splitlines(), start=1) if at in row)
    with pytest.raises(GroupsError) as refused:
        parse(text)
    (problem,) = refused.value.problems
    assert problem.startswith(f"conf/groups.toml, line {line}: ") and allowed in problem, problem
    if key:
        assert f"{key} = {value}: allowed:" in problem, problem


def test_broken_toml_and_unknown_tables_are_said():
    with pytest.raises(GroupsError) as refused:
        parse("[groups.ml\n")
    assert refused.value.problems[0].startswith("conf/groups.toml: not valid TOML")
    with pytest.raises(GroupsError) as refused:
        parse("[profiles.x]\nimage = 'a'\n")
    assert refused.value.problems == ["conf/groups.toml, line 1: unknown key 'profiles': allowed: images, "
                                      "folders, groups."]


def test_several_groups_get_the_union_rw_and_the_most_generous_limit():
    found = parse(DEPARTMENT).effective(["bio101", "ml"], {"images": {}, **{
        limit.setting: "" for limit in groups.LIMITS}})
    assert found["images"] == (["ml", "python"], "bio101, ml")
    assert found["mem_limit"] == ("8G", "ml") and found["cpu_limit"] == ("4", "ml")
    assert found["named_servers"] == ("3", "ml")
    assert found["folder materials"] == (("/home/jovyan/materials", "ro"), "bio101")
    staff = parse(DEPARTMENT).effective(["bio101", "bio101-staff"], {"images": {}, **{
        limit.setting: "" for limit in groups.LIMITS}})
    assert staff["folder materials"] == (("/home/jovyan/materials", "rw"), "bio101-staff")
    assert staff["mem_limit"] == ("2G", "bio101-staff")
    nobody = parse(DEPARTMENT).effective([], {"images": {}, **{limit.setting: "2G" for limit in groups.LIMITS}})
    assert nobody["mem_limit"] == ("2G", ".env NOTEBOOK_MEM_LIMIT")


def hub_plan(tmp_path: Path, mode: str = "compose") -> dict:
    (tmp_path / "conf").mkdir(exist_ok=True)
    hub = stack(tmp_path, users=USERS, mode=mode, COMPOSE_PROJECT_NAME="dept",
                **({"USER_STORAGE_PATH": "/srv/users"} if mode == "swarm" else {}))
    return {**hub.hub_settings(), "groups": parse(DEPARTMENT).for_hub("dept", hub.settings["USER_STORAGE_PATH"])}


def member(*names: str):
    return SimpleNamespace(groups=[SimpleNamespace(name=name) for name in names])


class FakeSpawner:
    """What Spawner._apply_overrides touches."""

    def __init__(self, user):
        self.user = user
        self.mem_limit, self.cpu_limit = "2G", None
        self.volumes = {"dept-user-{username}": "/home/jovyan/work"}
        self.extra_host_config = {"cap_drop": ["ALL"]}


def spawned(plan: dict, mode: str, *names: str) -> FakeSpawner:
    spawner = FakeSpawner(member(*names))
    overrides = hub_groups.overrides(plan, mode)
    for key in sorted(overrides):  # as Spawner.apply_group_overrides does
        if set(names) & set(overrides[key]["groups"]):
            Spawner._apply_overrides(spawner, overrides[key]["spawner_override"])
    return spawner


def test_the_hub_applies_the_same_rule(tmp_path):
    plan = hub_plan(tmp_path)["groups"]
    alice, maria, tom = spawned(plan, "compose", "bio101"), spawned(plan, "compose", "bio101", "ml"), \
        spawned(plan, "compose", "bio101-staff")
    assert alice.mem_limit == "1G" and maria.mem_limit == "8G" and tom.mem_limit == "2G"
    assert alice.extra_host_config == {"cap_drop": ["ALL"], "nano_cpus": 1_000_000_000}
    assert maria.extra_host_config["nano_cpus"] == 4_000_000_000
    assert maria.extra_host_config["device_requests"][0]["Count"] == -1
    assert alice.volumes["dept-group-materials"] == {"bind": "/home/jovyan/materials", "mode": "ro"}
    assert tom.volumes["dept-group-materials"]["mode"] == "rw"
    assert maria.volumes["dept-group-lab"]["mode"] == "rw" and maria.volumes["dept-group-materials"]["mode"] == "ro"
    assert spawned(plan, "compose", "bio101", "bio101-staff").volumes["dept-group-materials"]["mode"] == "rw"


def test_swarm_gets_limits_as_resources_and_folders_under_user_storage(tmp_path):
    plan = hub_plan(tmp_path, "swarm")["groups"]
    maria = spawned(plan, "swarm", "bio101", "ml")
    assert maria.mem_limit == "8G" and maria.cpu_limit == 4.0
    assert maria.volumes["/srv/users/_groups/lab"] == {"bind": "/home/jovyan/lab", "mode": "rw"}


def test_images_the_form_and_named_servers_follow_the_groups(tmp_path):
    plan = hub_plan(tmp_path)["groups"]
    alice, maria = SimpleNamespace(user=member("bio101")), SimpleNamespace(user=member("bio101", "ml"))
    assert hub_groups.allowed_images(plan, {}, alice) == {"python": "jupyterhub-user:latest"}
    assert hub_groups.allowed_images(plan, {}, maria) == {"python": "jupyterhub-user:latest",
                                                          "ml": "jupyterhub-user-ml:latest"}
    assert hub_groups.allowed_images(plan, {"Default": "x:1"}, SimpleNamespace(user=member())) == {"Default": "x:1"}
    assert hub_groups.options_form(plan, {}, alice) == ""
    form = hub_groups.options_form(plan, {}, maria)
    assert 'value="ml"' in form and "Machine learning" in form and "With scikit-learn" in form
    handler = SimpleNamespace(current_user=member("bio101", "ml"))
    assert hub_groups.named_server_limit(plan, 2, handler) == 3
    assert hub_groups.named_server_limit(plan, 2, SimpleNamespace(current_user=member())) == 2


def test_userlist_groups_reach_the_hub_unless_the_provider_gives_them(tmp_path):
    assert stack(tmp_path, users=USERS).hub_settings()["user_groups"] == {
        "alice": ["bio101"], "maria": ["bio101", "ml"], "tom": ["bio101-staff"]}
    c = applied(users=USERS)
    assert c.JupyterHub.authenticator_class.__name__ == "UserlistGroupsSharedPasswordAuthenticator"
    assert c.Authenticator.manage_groups is True and c.Authenticator.refresh_pre_spawn is True
    assert stack(tmp_path, users="alice\n").hub_settings()["user_groups"] is None
    oauth = stack(tmp_path, users=USERS, JUPYTERHUB_AUTHENTICATOR="generic_oauth", OAUTH_CLIENT_ID="x",
                  OAUTH_DISCOVERY_URL="https://id.example.org/.well-known/openid-configuration")
    assert oauth.hub_settings()["user_groups"] is None


def test_a_server_started_under_older_group_settings_is_told_apart(tmp_path):
    (tmp_path / "conf").mkdir()
    hub = stack(tmp_path, users=USERS)
    hub = type(hub)(hub.root, hub.settings, hub.users, hub.mode, parse(DEPARTMENT))
    digest = hub.groups.digest()
    assert hub.groups_current("maria", f"{digest}:bio101,ml")
    assert not hub.groups_current("maria", f"{digest}:bio101")  # userlist moved her since
    assert not hub.groups_current("maria", "0123456789ab:bio101,ml")  # the file changed since
    edited = parse(DEPARTMENT.replace('mem_limit = "1G"', 'mem_limit = "2G"'))
    assert edited.digest() != digest


def test_swarm_refuses_group_gpus(tmp_path):
    from jhdeploy import validation

    swarm = stack(tmp_path, users=USERS, mode="swarm")
    swarm = type(swarm)(swarm.root, swarm.settings, swarm.users, swarm.mode, parse(DEPARTMENT))
    assert any("[groups.ml] of conf/groups.toml) are not supported on Docker Swarm" in problem
               for problem in validation.swarm_problems(swarm))


def test_a_groups_file_in_the_checkout_is_checked_when_the_settings_resolve(tmp_path):
    from jhdeploy import resolve
    from jhdeploy.settings import SettingsError

    (tmp_path / "conf").mkdir()
    (tmp_path / "conf/groups.toml").write_text(DEPARTMENT.replace('mem_limit = "8G"', 'mem_limit = "lots"'))
    with pytest.raises(SettingsError) as refused:
        resolve.from_text(tmp_path, "", USERS)
    assert "conf/groups.toml, line 31: [groups.ml] mem_limit = 'lots'" in str(refused.value)


def test_the_authenticator_with_userlist_groups_takes_its_configuration():
    """Built the way the hub builds it, and configured as the hub configures it."""
    from jhdeploy_hub.authenticators import with_userlist_groups
    from traitlets.config import Config

    c = Config()
    c.Authenticator.user_groups = {"maria": ["bio101", "ml"]}
    c.SharedPasswordAuthenticator.user_password = "a-long-enough-password"
    cls = with_userlist_groups("jupyterhub.authenticators.shared.SharedPasswordAuthenticator")
    authenticator = cls(config=c)
    assert authenticator.user_groups == {"maria": ["bio101", "ml"]}
    import asyncio

    model = asyncio.run(authenticator.authenticate(None, {"username": "maria",
                                                          "password": "a-long-enough-password"}))
    assert model["name"] == "maria" and model["groups"] == ["bio101", "ml"]
    refreshed = asyncio.run(authenticator.refresh_user(SimpleNamespace(name="maria")))
    assert refreshed == {"name": "maria", "groups": ["bio101", "ml"]}


def test_the_tasks_make_group_volumes_and_the_hub_makes_folders_on_shared_storage(tmp_path):
    (tmp_path / "conf").mkdir()
    text = DEPARTMENT.replace('mount = "/home/jovyan/lab"', 'mount = "/home/jovyan/lab"\nhost_path = "/srv/lab"')
    text = text.replace('gpus = "all"\n', "")  # Swarm takes no GPUs
    (tmp_path / "conf/groups.toml").write_text(text)
    from jhdeploy import resolve

    assert resolve.from_text(tmp_path, "COMPOSE_PROJECT_NAME=dept\n", USERS).group_folders() == [
        "/srv/lab", "dept-group-materials"]
    swarm = resolve.from_text(tmp_path, "COMPOSE_PROJECT_NAME=dept\nUSER_STORAGE_PATH=/srv/users\n", USERS,
                              mode="swarm")
    assert swarm.group_folders() == ["/srv/lab"]

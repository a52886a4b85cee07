"""Groups in the hub: the plan the tasks decided from conf/groups.toml (jhdeploy/groups.py), applied
through DockerSpawner's callables (`allowed_images`, `options_form`) and JupyterHub's
`Spawner.group_overrides` and `named_server_limit_per_user`. Decides nothing the plan does not say.

The rule for a user in several groups: images and folders are the union, `rw` wins over `ro`, and the
most generous limit wins. For the limits that is the order of `group_overrides`: each limit's values
come from the least to the most generous, so the last one applied is the largest.
"""

from __future__ import annotations

import html

# A limit of the plan -> how it is set on a container (Docker) and on a service (Swarm).
DOCKER = {
    "mem_limit": lambda value: {"mem_limit": value},
    "cpu_limit": lambda value: {"extra_host_config": {"nano_cpus": int(float(value) * 1e9)}},
    "gpus": lambda value: {"extra_host_config": {"device_requests": [_gpu_request(value)]}},
}
SWARM = {
    "mem_limit": lambda value: {"mem_limit": value},
    "cpu_limit": lambda value: {"cpu_limit": float(value)},
    "mem_reservation": lambda value: {"mem_guarantee": value},
    "cpu_reservation": lambda value: {"cpu_guarantee": float(value)},
}


def _gpu_request(value: str):
    from jhdeploy_hub.config import gpu_request

    return gpu_request(value if value == "all" else value.split(","))


def names_of(user) -> list[str]:
    return sorted(group.name for group in user.groups)


def allowed_images(plan: dict, default: dict, spawner) -> dict[str, str]:
    """The union of the images of the user's groups (name -> image); none of them names any: .env's."""
    found = {name: plan["images"][name]["image"] for group in names_of(spawner.user)
             for name in plan["groups"].get(group, {}).get("images", [])}
    return found or dict(default)


def options_form(plan: dict, default: dict, spawner) -> str:
    """A choice of images, each with its display name and description; no form for one choice."""
    choices = allowed_images(plan, default, spawner)
    if len(choices) <= 1:
        return ""
    rows = []
    for number, name in enumerate(choices):
        info = plan["images"].get(name, {"display_name": name, "description": ""})
        rows.append(
            f'<div class="form-check mb-2"><input class="form-check-input" type="radio" name="image" '
            f'id="image-{number}" value="{html.escape(name)}"{" checked" if number == 0 else ""}>'
            f'<label class="form-check-label" for="image-{number}"><strong>{html.escape(info["display_name"])}'
            f'</strong><br><small class="text-muted">{html.escape(info["description"])}</small></label></div>')
    return '<fieldset><legend class="fs-6">Choose an image</legend>' + "".join(rows) + "</fieldset>"


def overrides(plan: dict, mode: str) -> dict[str, dict]:
    """`Spawner.group_overrides`: folders (ro first, then rw, so that rw wins), then each limit from the
    least to the most generous. Keys sort in the order they apply."""
    found = {}
    for group, spec in plan["groups"].items():
        for source, mount in spec["folders"].items():
            key = f"0-folders-{0 if mount['mode'] == 'ro' else 1}-{group}-{source}"
            found[key] = {"groups": [group], "spawner_override": {"volumes": {source: dict(mount)}}}
    setters = SWARM if mode == "swarm" else DOCKER
    for number, (limit, values) in enumerate(sorted(plan["limits"].items()), start=1):
        if limit not in setters:
            continue
        for rank, (group, value) in enumerate(values):
            found[f"{number}-{limit}-{rank:04d}-{group}"] = {"groups": [group],
                                                               "spawner_override": setters[limit](value)}
    return found


def named_server_limit(plan: dict, default: int, handler) -> int:
    """The largest number of named servers the user's groups allow; in none of them: .env's."""
    values = dict(plan["limits"].get("named_servers", []))
    user = handler.current_user
    offers = [int(values[group]) for group in names_of(user) if group in values] if user else []
    return max(offers, default=default)

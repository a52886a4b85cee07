"""The images we build, in build order, and the `docker build` command for each.

This is the one description of the image hierarchy: tasks.py, `invoke doctor`
and the tests read LAYERS.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from jhdeploy_hub import contract

from jhdeploy.layout import image_ref
from jhdeploy.settings import Settings


@dataclass(frozen=True)
class Layer:
    name: str  # as printed and as used in resume hints
    task: str  # the invoke task that builds this layer alone
    dockerfile: str
    tag_key: str  # the setting that names the image built here
    parent_key: str  # the setting that names its FROM image
    arg_keys: tuple[str, ...] = ()  # settings passed as build args
    help: str = ""
    inputs: tuple[str, ...] = ()  # files besides the Dockerfile that the layer copies in


LAYERS: tuple[Layer, ...] = (
    Layer("hub", "hub-image", "dockerfiles/Dockerfile.jupyterhub", "LOCAL_HUB_IMAGE",
          "JUPYTERHUB_BASE_IMAGE", ("JUPYTERHUB_VERSION", "DOCKERSPAWNER_VERSION"),
          "JupyterHub with DockerSpawner and the hub-side package", ("dockerfiles/hub-requirements.txt", "hub")),
    Layer("proxy", "proxy-image", "dockerfiles/Dockerfile.proxy", "LOCAL_PROXY_IMAGE", "PROXY_IMAGE", (),
          "configurable-http-proxy with an entrypoint that reads its token and TLS files from secrets",
          ("dockerfiles/proxy-entrypoint.sh",)),
    Layer("notebook_base", "notebook-base", "dockerfiles/Dockerfile.notebook_base", "LOCAL_NOTEBOOK_BASE",
          "DOCKER_NOTEBOOK_BASE", ("DOCKER_NOTEBOOK_DIR",),
          "system packages, trusted CAs and the notebook directory", ("conf/notebook/apt.txt",)),
    Layer("notebook_body", "notebook-body", "dockerfiles/Dockerfile.notebook_body", "LOCAL_NOTEBOOK_BODY",
          "LOCAL_NOTEBOOK_BASE", ("JUPYTERHUB_VERSION", "JUPYTERLAB_VERSION", "NOTEBOOK_VERSION",
                                  "RESOURCE_USAGE_VERSION", "COLLABORATION_VERSION", "NOTEBOOK_BUILD_RETRIES",
                                  "NOTEBOOK_BUILD_RETRY_DELAY"),
          "the Python environment (the slow, network-bound layer)",
          ("scripts/install-environment.sh", "conf/notebook/requirements.txt", "conf/notebook/environment.yml",
           "conf/notebook/kernels")),
    Layer("notebook_image", "notebook-image", "dockerfiles/Dockerfile.notebook_image", "LOCAL_NOTEBOOK_IMAGE",
          "LOCAL_NOTEBOOK_BODY", ("JUPYTERLAB_NEWS",),
          "server and JupyterLab settings, the hub's notice in JupyterLab, the conda hook snapshot, health check "
          "(fast)",
          ("conf/notebook/jupyter_server_config.py", "conf/notebook/overrides.json", "scripts/lab-overrides.py",
           "conf/notebook/labextensions", "conf/notebook/sharing", "scripts/conda-hook-snapshot.sh")),
)
BY_NAME = {layer.name: layer for layer in LAYERS}


def newest_input(layer: Layer, root: Path) -> float:
    """The latest modification time among the layer's Dockerfile and inputs."""
    paths = [root / layer.dockerfile, *(root / name for name in layer.inputs)]
    files = [f for p in paths for f in ([p] if p.is_file() else p.rglob("*") if p.is_dir() else [])]
    return max((f.stat().st_mtime for f in files if f.is_file()), default=0.0)


def below(layer: Layer) -> Layer | None:
    """The layer whose image this one builds FROM, if we build it."""
    return next((other for other in LAYERS if other.tag_key == layer.parent_key), None)


def up_to(layer: Layer) -> list[Layer]:
    """The layers below `layer`, bottom first, then `layer` itself."""
    chain = [layer]
    while (parent := below(chain[0])) is not None:
        chain.insert(0, parent)
    return chain


def build_args(layer: Layer, s: Settings) -> dict[str, str]:
    args = {"BASE_IMAGE": s[layer.parent_key]}
    if layer.tag_key == "LOCAL_HUB_IMAGE":  # the hub image's label: the hub settings it reads
        args["SETTINGS_FORMAT"] = str(contract.SETTINGS_FORMAT)
    for key in layer.arg_keys:
        value = s[key]
        args[key] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return args


def build_command(layer: Layer, s: Settings, root: Path, no_cache: bool = False) -> list[str]:
    """`docker build` for one layer; the build context is the repository root."""
    # --force-rm: the classic builder otherwise leaves a failed step's container behind.
    command = ["docker", "build", "--force-rm", "--file", str(root / layer.dockerfile), "--tag", s[layer.tag_key]]
    if s["REGISTRY"]:  # the name every swarm node pulls; `invoke push` pushes it
        command += ["--tag", image_ref(s, layer.tag_key)]
    for key, value in build_args(layer, s).items():
        command += ["--build-arg", f"{key}={value}"]
    if no_cache:
        command.append("--no-cache")
    return command + [str(root)]

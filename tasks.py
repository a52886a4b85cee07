"""jupyterhub-deploy: run JupyterHub on Docker with `invoke TASK`.

    invoke build     build the hub image and the three notebook layers
    invoke start     bring the hub up at https://localhost (runs setup first)
    invoke stop      stop the hub and every user container (volumes are kept)

`invoke --help TASK` explains each flag. All settings live in `.env`.
"""

from __future__ import annotations

import datetime
import time
from pathlib import Path

from invoke import Exit, task

from jhdeploy import build as builder
from jhdeploy import engine, health, images, userlist
from jhdeploy import setup as first_run
from jhdeploy import stack as stack_module
from jhdeploy.layout import HUB_SERVICE
from jhdeploy.settings import SettingsError

ROOT = Path(__file__).resolve().parent
NO_CACHE_HELP = "Rebuild from scratch instead of using the build cache."
WITH_DEPS_HELP = "Also build the layers below this one first."


def load_stack() -> stack_module.Stack:
    """Create missing files, then validate .env and userlist before any Docker call."""
    for name in first_run.copy_templates(ROOT):
        print(f"Created {name} from its template.")
    try:
        stack = stack_module.load(ROOT)
        userlist.load(stack.userlist_file)
    except (SettingsError, userlist.UserlistError) as error:
        raise Exit(f"Invalid configuration, nothing was started:\n{error}", code=2) from None
    for key in stack.settings.unknown:
        print(f"warning: .env sets {key}, which this project does not use (misspelled?).")
    for warning in stack.warnings():
        print(warning)
    for name in first_run.ensure_runtime_files(stack):
        print(f"Created {name}.")
    return stack


def ready_engine(c) -> None:
    """Fail with one clear sentence when Docker or Compose v2 is missing."""
    engine.check_engine(c)
    engine.compose_command(c)


@task
def setup(c):
    """Create .env, userlist, secrets and the self-signed certificate when missing."""
    stack = load_stack()
    print(f"Settings in {stack.env_file.name} are valid. Secrets are in {stack.secrets_dir.name}/.")


def _build(c, layers, no_cache: bool) -> None:
    stack = load_stack()
    ready_engine(c)
    builder.check_parent(c, layers[0], stack.settings)
    started = time.monotonic()
    timings = builder.build_layers(c, stack.root, layers, stack.settings, no_cache)
    summary = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in timings.items())
    print(f"\nBuilt {len(timings)} image(s) in {time.monotonic() - started:.0f} s ({summary}).")


@task(help={"no-cache": NO_CACHE_HELP})
def build(c, no_cache=False):
    """Build the hub image and the notebook layers base -> body -> image."""
    _build(c, list(images.LAYERS), no_cache)


def _layer_task(layer: images.Layer):
    def build_layer(c, no_cache=False, with_deps=False):
        _build(c, images.up_to(layer) if with_deps else [layer], no_cache)

    build_layer.__doc__ = f"Build only the {layer.name} image: {layer.help}."
    build_layer.__name__ = layer.task.replace("-", "_")
    return task(build_layer, name=layer.task, help={"no-cache": NO_CACHE_HELP, "with-deps": WITH_DEPS_HELP})


hub_image, notebook_base, notebook_body, notebook_image = (_layer_task(layer) for layer in images.LAYERS)


def _start(c, stack, timeout: int) -> None:
    ready_engine(c)
    missing = [stack.settings[k] for k in ("LOCAL_HUB_IMAGE", "LOCAL_NOTEBOOK_IMAGE")
               if not engine.image_exists(c, stack.settings[k])]
    if missing:
        raise Exit(f"Image(s) not built yet: {', '.join(missing)}. Run `invoke build` first.", code=1)
    started, since = time.monotonic(), datetime.datetime.now(datetime.timezone.utc)
    for created in engine.ensure_stack_resources(c, stack):
        print(f"Created {created}.")
    engine.compose(c, stack, ["up", "--detach", "--remove-orphans"])
    print(f"Waiting up to {timeout} s for {stack.local_url}hub/health ...", flush=True)
    health.wait_until_healthy(c, stack, timeout, since)
    print(f"\nJupyterHub is up after {time.monotonic() - started:.0f} s: {stack.url}")
    print(health.login_hint(stack))


@task(help={
    "follow": "Tail the logs after the hub is up (Ctrl-C stops tailing, not the hub).",
    "timeout": "Seconds to wait for /hub/health before giving up.",
})
def start(c, follow=False, timeout=180):
    """Start the stack and wait until the hub answers /hub/health."""
    stack = load_stack()
    _start(c, stack, timeout)
    if follow:
        engine.compose(c, stack, ["logs", "--follow"], warn=True)


def _stop(c, stack) -> None:
    ready_engine(c)
    started = time.monotonic()
    # The hub stops the servers it spawned when it shuts down...
    engine.compose(c, stack, ["stop"])
    # ...and whatever it could not stop goes here, found by our label.
    leftovers = engine.spawned_containers(c, stack.project)
    if leftovers:
        engine.run(c, ["docker", "rm", "--force", *leftovers], hide="out")
    engine.compose(c, stack, ["down"])
    print(f"Stopped in {time.monotonic() - started:.0f} s ({len(leftovers)} user container(s) removed). "
          "Volumes, the network and secrets are kept.")


@task
def stop(c):
    """Stop the hub and remove its containers and the user containers; keep all volumes."""
    _stop(c, load_stack())


@task(help={"timeout": "Seconds to wait for /hub/health before giving up."})
def restart(c, timeout=180):
    """Stop, then start: applies changes to .env, userlist and conf/."""
    stack = load_stack()
    _stop(c, stack)
    _start(c, stack, timeout)


@task(help={
    "service": f"Only this Compose service (for example {HUB_SERVICE}).",
    "no-follow": "Print the logs so far and return.",
    "tail": "Lines of history to show per service.",
})
def logs(c, service="", no_follow=False, tail="200"):
    """Follow the stack's logs."""
    stack = load_stack()
    ready_engine(c)
    args = ["logs", "--tail", str(tail)] + ([] if no_follow else ["--follow"]) + ([service] if service else [])
    engine.compose(c, stack, args, warn=True)


@task
def status(c):
    """Show containers, hub health, the URL and which Compose files and options apply."""
    stack = load_stack()
    print(f"Project:  {stack.project}")
    print(f"URL:      {stack.url}")
    print(f"Files:    {' '.join(stack.compose_files)}")
    print("Options:  " + ", ".join(f"{k}={v}" for k, v in stack.options.items()))
    ready_engine(c)
    engine.compose(c, stack, ["ps", "--all"], echo=False)
    users = engine.spawned_containers(c, stack.project)
    print(f"User containers: {len(users)}")
    print(f"Hub health: {health.describe(stack)}")


@task(help={"name": "The user name, as listed in userlist."})
def user_password(c, name):
    """Print the password that NAME types with hash_authenticator."""
    stack = load_stack()
    if stack.authenticator != "hash_authenticator":
        raise Exit(f"JUPYTERHUB_AUTHENTICATOR is {stack.authenticator}; user-password applies to "
                   "hash_authenticator only.", code=2)
    ready_engine(c)
    engine.ensure_stack_resources(c, stack)
    # Computed by the hub image's own hashauthenticator, with the key read inside the container.
    code = ("import sys; from hashauthenticator import generate_password_digest as g; "
            "print(g(sys.argv[1], open('/run/secrets/hash_secret_key').read().strip(), int(sys.argv[2])))")
    engine.compose(c, stack, ["run", "--rm", "--no-deps", "-T", "--entrypoint", "python3", HUB_SERVICE,
                              "-c", code, name, stack.settings["HASH_PASSWORD_LENGTH"]], echo=False)


@task
def config(c):
    """Print the merged Compose configuration that `invoke start` would run."""
    stack = load_stack()
    engine.compose_command(c)  # needs no daemon
    result = engine.compose(c, stack, ["config"], hide="out", echo=False)
    print(health.mask_secrets(result.stdout, stack))

"""Build image layers in order, with progress, timings and a resume hint on failure."""

from __future__ import annotations

import time
from pathlib import Path

from jhdeploy import cacerts, changes, diskspace, engine, images, resolve
from jhdeploy.errors import DeployError
from jhdeploy.images import Layer
from jhdeploy.settings import Settings

TAIL_LINES = 25


def run(c, root: Path, layers: list[Layer], no_cache: bool) -> None:
    """`invoke build` and each layer's task: check .env and the layer below, build, say how long each took."""
    stack = resolve.for_change(c, root)
    check_parent(c, layers[0], stack.settings)
    diskspace.require_reserve(c, stack, "building", "invoke " + " ".join(layer.task for layer in layers)
                              if len(layers) < len(images.LAYERS) else "invoke build")
    timings, seconds = build_layers(c, root, layers, stack.settings, no_cache)
    summary = ", ".join(f"{name} {took:.0f} s" for name, took in timings.items())
    print(f"\nBuilt {len(timings)} image(s) in {seconds:.0f} s ({summary}).")


def resume_command(remaining: list[Layer]) -> str:
    return "invoke " + " ".join(layer.task for layer in remaining)


def build_layers(c, root: Path, layers: list[Layer], s: Settings, no_cache: bool = False
                 ) -> tuple[dict[str, float], float]:
    """Build `layers` in order; return seconds per layer and in all. Stops at the first failure."""
    begun = time.monotonic()
    count = changes.apply(c, "stage EXTRA_CA_CERTS in .build/ca-certificates", cacerts.stage, root,
                          s["EXTRA_CA_CERTS"])
    if count:
        print(f"Trusting {count} extra CA certificate(s) from {s['EXTRA_CA_CERTS']}.")
    timings: dict[str, float] = {}
    for number, layer in enumerate(layers, start=1):
        tag = s[layer.tag_key]
        print(f"\n==> [{number}/{len(layers)}] {layer.name}: {layer.help} -> {tag}", flush=True)
        started = time.monotonic()
        result = engine.run(c, images.build_command(layer, s, root, no_cache), warn=True, pty=False)
        elapsed = time.monotonic() - started
        if not result.ok:
            tail = "\n".join(("    " + line) for line in (result.stdout + result.stderr).splitlines()[-TAIL_LINES:])
            raise DeployError(
                f"\n✗ Layer {layer.name} failed after {elapsed:.0f} s (exit {result.exited}). Last lines:\n"
                f"{tail}\n\nFix the cause, then resume from this layer with:\n"
                f"    {resume_command(layers[number - 1:])}"
            )
        timings[layer.name] = elapsed
        if not changes.dry(c):
            print(f"✓ {layer.name} built in {elapsed:.1f} s", flush=True)
    return timings, time.monotonic() - begun


def check_parent(c, layer: Layer, s: Settings) -> None:
    """Refuse to build a layer whose lower layer image is missing, and say what builds it."""
    parent = images.below(layer)
    if parent is not None and not engine.image_exists(c, s[parent.tag_key]):
        raise DeployError(
            f"The layer below {layer.name} ({parent.name}, image {s[parent.tag_key]}) is not built yet. "
            f"Run `invoke {layer.task} --with-deps` to build from the bottom, or `invoke {parent.task}` first."
        )

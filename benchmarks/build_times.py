#!/usr/bin/env python3
"""Build-time benchmark: cold build of every layer, then rebuilds after typical edits.

Prints JSON. Runs `invoke build` in a scratch copy of this repository with its
own image tags, so your images and .env are left alone. Needs a Docker Engine.

    python benchmarks/build_times.py \
        --set JUPYTERHUB_BASE_IMAGE=jhdeploy-standin/jupyterhub:6.1.1 \
        --set PROXY_IMAGE=jhdeploy-standin/configurable-http-proxy:5.3.0 \
        --set DOCKER_NOTEBOOK_BASE=jhdeploy-standin/minimal-notebook:latest \
        --set EXTRA_CA_CERTS=/usr/local/share/ca-certificates  # behind a TLS-inspecting proxy
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from scratch import copy as scratch_copy  # noqa: E402
from scratch import write_env as scratch_write_env  # noqa: E402

from jhdeploy.images import LAYERS  # noqa: E402

TAGS = {layer.tag_key: f"jhdbench-{layer.name.replace('_', '-')}:latest" for layer in LAYERS}

# Each edit, and which layers it should rebuild.
EDITS = {
    "userlist_or_hub_config": (["userlist", "conf/jupyterhub_config.d/99-bench.py"], []),
    "top_layer_input": (["conf/notebook/jupyter_server_config.py"], ["notebook_image"]),
    "body_environment": (["conf/notebook/requirements.txt"], ["notebook_body", "notebook_image"]),
}


def image_ids() -> dict[str, str]:
    ids = {}
    for layer in LAYERS:
        result = subprocess.run(["docker", "image", "inspect", "--format", "{{.Id}}", TAGS[layer.tag_key]],
                                capture_output=True, text=True)
        ids[layer.name] = result.stdout.strip()
    return ids


def build(root: Path, *flags: str) -> dict:
    before = image_ids()
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "invoke", "build", *flags], cwd=root,
                            capture_output=True, text=True)
    total = time.monotonic() - started
    if result.returncode != 0:
        sys.exit(f"invoke build failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    layers = {name: float(sec) for name, sec in re.findall(r"✓ (\w+) built in ([\d.]+) s", result.stdout)}
    after = image_ids()
    return {
        "total_s": round(total, 1),
        "layer_s": layers,
        "rebuilt": [name for name in after if after[name] != before[name]],
    }


def append(path: Path, line: str) -> None:
    with path.open("a") as f:
        f.write(line + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help=".env values for the scratch copy (base images, for example)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="jhdbench-") as scratch:
        root = Path(scratch) / "repo"
        env = dict(TAGS, **scratch_copy(root, dict(item.split("=", 1) for item in args.set)))
        scratch_write_env(root, env)
        (root / "userlist").write_text("jovyan admin\n")

        report = {"cold_no_cache": build(root, "--no-cache")}
        for name, (files, expected) in EDITS.items():
            marker = f"# benchmark edit {time.time_ns()}"
            for relative in files:
                append(root / relative, marker)
            if name == "body_environment":
                append(root / "conf/notebook/requirements.txt", "tabulate==0.10.0")
            result = build(root)
            result["expected_rebuilt"] = expected
            report[f"after_{name}_edit"] = result
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Snapshot benchmark: a second restic snapshot against a second `invoke backup --user-volumes`.

USERS user volumes of MB megabytes each (random, so nothing compresses, in files of
about 330 KB), then both backups once, then 1% of the files rewritten, then both
again. Prints each time and size side by side, and the ratios against the goals
of issue 25 (the second snapshot: at most 10% of the archive's time, and adds at
most 5% of its size). Writes JSON to --out. Runs in a scratch copy of this
repository with its own project, image tag and volumes, removed at the end.

    python benchmarks/snapshots.py \
        --set JUPYTERHUB_BASE_IMAGE=jhdeploy-standin/jupyterhub:6.1.1 \
        --set BACKUP_IMAGE=jhdeploy-standin/restic:0.18.0 \
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

from scratch import copy as scratch_copy
from scratch import write_env as scratch_write_env

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "hub"))
from jhdeploy_hub.contract import user_volume_prefix  # noqa: E402

PROJECT = "jhdbenchsnap"
FILE_KB = 330
# Run in a container of the hub image: fill /v with N files of random data, or rewrite every 100th file.
FILL = ("import os, sys\nn = int(sys.argv[1])\nfor i in range(n):\n"
        "    os.makedirs(f'/v/dir{i % 10}', exist_ok=True)\n"
        f"    open(f'/v/dir{{i % 10}}/f{{i}}.bin', 'wb').write(os.urandom({FILE_KB} * 1024))\n"
        "os.chown('/v', 1000, 100)\n")
CHANGE = ("import os, glob\nfor path in sorted(glob.glob('/v/dir*/f*.bin'))[::100]:\n"
          f"    open(path, 'wb').write(os.urandom({FILE_KB} * 1024))\n")


def sh(argv: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=cwd, check=True, capture_output=True, text=True)


def timed(argv: list[str], cwd: Path) -> tuple[float, str]:
    started = time.monotonic()
    out = sh(argv, cwd).stdout
    return time.monotonic() - started, out


def folder_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def in_volumes(image: str, volumes: list[str], script: str, *args: str) -> None:
    for volume in volumes:
        sh(["docker", "run", "--rm", "--network", "none", "--volume", f"{volume}:/v", "--entrypoint", "python3",
            image, "-c", script, *args])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="A .env setting.")
    parser.add_argument("--users", type=int, default=50, help="How many user volumes.")
    parser.add_argument("--mb", type=int, default=100, help="Megabytes in each user's volume.")
    parser.add_argument("--out", default="bench-results/snapshots.json", help="Where the JSON goes.")
    args = parser.parse_args()
    invoke = [sys.executable, "-m", "invoke"]
    files = max(1, args.mb * 1024 // FILE_KB)
    hub_image = f"{PROJECT}-hub:latest"
    volumes = [f"{user_volume_prefix(PROJECT)}u{n:03d}" for n in range(args.users)]
    with tempfile.TemporaryDirectory(prefix="jhd-bench-snap-") as scratch:
        root = Path(scratch) / "deploy"
        env = scratch_copy(root, dict(item.split("=", 1) for item in args.set))
        env.update(COMPOSE_PROJECT_NAME=PROJECT, LOCAL_HUB_IMAGE=hub_image, BACKUP_SCHEDULE="manual")
        scratch_write_env(root, env)
        try:
            print(f"building the hub image and filling {args.users} volumes with {files} files "
                  f"({args.mb} MB) each ...", flush=True)
            sh([*invoke, "hub-image"], root)
            sh(["docker", "volume", "create", f"{PROJECT}-data"])  # a stack set up, never started
            for volume in volumes:
                sh(["docker", "volume", "create", volume])
            in_volumes(hub_image, volumes, FILL, str(files))
            rounds = []
            for label in ("first", "after 1% of the files changed"):
                if rounds:
                    in_volumes(hub_image, volumes, CHANGE)
                archive_s, out = timed([*invoke, "backup", "--user-volumes", "--no-secrets"], root)
                archive = Path(re.search(r"✓ (\S+\.tar\.gz)", out).group(1))
                snapshot_s, out = timed([*invoke, "backup-now"], root)
                added = float(re.search(r": ([\d.]+) MB added", out).group(1))
                rounds.append({"round": label, "archive_seconds": round(archive_s, 1),
                               "archive_mb": round(archive.stat().st_size / 1e6, 1),
                               "snapshot_seconds": round(snapshot_s, 1), "snapshot_added_mb": added,
                               "repository_mb": round(folder_mb(root / "backups/restic"), 1)})
                archive.unlink()
        finally:
            subprocess.run(["docker", "volume", "rm", "--force", *volumes, f"{PROJECT}-data",
                            f"{PROJECT}-restic-cache"], capture_output=True)
            subprocess.run(["docker", "run", "--rm", "--volume", f"{root}:/r", "--entrypoint", "rm", hub_image,
                            "-rf", "/r/backups"], capture_output=True)  # restic's files are root's
    print(f"\n{args.users} users x {args.mb} MB ({files} files each); times in s, sizes in MB")
    print(f"{'round':32}{'archive s':>10}{'archive MB':>12}{'snapshot s':>12}{'added MB':>10}{'repo MB':>9}")
    for r in rounds:
        print(f"{r['round']:32}{r['archive_seconds']:>10}{r['archive_mb']:>12}{r['snapshot_seconds']:>12}"
              f"{r['snapshot_added_mb']:>10}{r['repository_mb']:>9}")
    second = rounds[1]
    goals = {"second snapshot time / second archive time (goal <= 10%)":
             second["snapshot_seconds"] / second["archive_seconds"],
             "second snapshot added / second archive size (goal <= 5%)":
             second["snapshot_added_mb"] / second["archive_mb"]}
    for goal, ratio in goals.items():
        print(f"{goal}: {ratio:.1%}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"users": args.users, "mb": args.mb, "rounds": rounds,
                               "ratios": {k: round(v, 4) for k, v in goals.items()}}, indent=2))


if __name__ == "__main__":
    main()

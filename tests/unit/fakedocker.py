#!/usr/bin/env python3
"""A `docker` for unit tests: records every call (one JSON list per line in $FAKE_DOCKER_LOG) and
answers the read-only questions the tasks ask as an engine with built images and nothing running would."""

import json
import os
import sys

args = sys.argv[1:]
with open(os.environ["FAKE_DOCKER_LOG"], "a", encoding="utf-8") as log:
    log.write(json.dumps(args) + "\n")

words = " ".join(args)
if words == "info --format {{.ServerVersion}}":
    print("28.0.0")
elif words == "info --format {{.DockerRootDir}}":
    print("/nonexistent")
elif words.startswith("compose version"):
    print("2.40.3")
elif args[:2] == ["image", "inspect"] and "settings-format" in words:
    # Built by this checkout's `invoke build`: labelled with the hub settings format its hub/ reads.
    sys.path.insert(0, os.path.join(os.getcwd(), "hub"))
    from jhdeploy_hub import contract

    print(*[contract.SETTINGS_FORMAT] * (len(args) - 4), sep="\n")
elif args[:2] == ["image", "inspect"]:
    print("2026-01-01T00:00:00Z" if "--format" in args else "[]")
elif args[:2] == ["volume", "inspect"]:
    sys.exit(0 if os.environ.get("FAKE_VOLUMES_EXIST") else 1)
elif args[:2] == ["network", "inspect"]:
    sys.exit(1)
elif args[:2] == ["system", "df"]:
    print("[]")
elif args[:1] == ["run"] and "python3" in args and "sqlite3" in words:
    sys.stdout.buffer.write(b"SQLite format 3\x00 a stand-in database")

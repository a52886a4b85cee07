#!/opt/conda/bin/python
"""HEALTHCHECK of the stand-in: the running Jupyter server's /api answers (its URL is in the runtime dir)."""
import json
import os
import subprocess
from pathlib import Path

import requests

home = {"HOME": "/home/" + os.environ["NB_USER"]}
runtime = Path(subprocess.run(["jupyter", "--runtime-dir"], check=True, capture_output=True, text=True,
                              env={**os.environ, **home}).stdout.strip())
url = json.loads(next(runtime.glob("*server-*.json")).read_bytes())["url"]
requests.get(url + "api", proxies={"http": "", "https": ""}, verify=False, timeout=1).raise_for_status()

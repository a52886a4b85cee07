#!/usr/bin/env python
"""The single-user server under JupyterHub, on every address unless NOTEBOOK_ARGS says --ip."""
import os
import shlex
import sys

command = ["jupyterhub-singleuser"]
if "--ip=" not in os.environ.get("NOTEBOOK_ARGS", ""):
    command.append("--ip=0.0.0.0")
command += shlex.split(os.environ.get("NOTEBOOK_ARGS", "")) + sys.argv[1:]
print("Executing: " + " ".join(command), flush=True)
os.execvp(command[0], command)

#!/usr/bin/env python
"""CMD of the image: JupyterLab alone (DOCKER_STACKS_JUPYTER_CMD, NOTEBOOK_ARGS), or under a hub
the single-user server, as docker-stacks' start-notebook.py does."""
import os
import shlex
import sys

if "JUPYTERHUB_API_TOKEN" in os.environ:
    print("WARNING: using start-singleuser.py under JupyterHub.", flush=True)
    os.execvp("/usr/local/bin/start-singleuser.py", ["/usr/local/bin/start-singleuser.py", *sys.argv[1:]])
command = ["run-one-constantly"] if os.environ.get("RESTARTABLE") == "yes" else []
command += ["jupyter", os.environ.get("DOCKER_STACKS_JUPYTER_CMD", "lab")]
command += shlex.split(os.environ.get("NOTEBOOK_ARGS", "")) + sys.argv[1:]
print("Executing: " + " ".join(command), flush=True)
os.execvp(command[0], command)

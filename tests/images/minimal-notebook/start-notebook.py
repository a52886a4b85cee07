#!/opt/conda/bin/python
"""Start a single-user server under a hub, or JupyterLab alone, as docker-stacks does."""
import os
import sys

if "JUPYTERHUB_API_TOKEN" in os.environ:
    os.execvp("start-singleuser.py", ["start-singleuser.py", *sys.argv[1:]])
os.execvp("jupyter", ["jupyter", "lab", *sys.argv[1:]])

#!/opt/conda/bin/python
"""Start jupyterhub-singleuser, as docker-stacks' start-singleuser.py does."""
import os
import sys

os.execvp("jupyterhub-singleuser", ["jupyterhub-singleuser", *sys.argv[1:]])

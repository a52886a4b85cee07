# Jupyter Server settings for every user's server (copied into the notebook_image
# layer, so an edit rebuilds only that fast top layer).

c = get_config()  # noqa: F821

# Managed deployments update images, not single servers: no update checks to PyPI.
c.LabApp.check_for_updates_class = "jupyterlab.NeverCheckForUpdate"

# The classic notebook (/nbclassic) and its shim: neither JupyterLab nor Notebook 7 links to them,
# and loading them costs every server start about 0.05 s of CPU (docs/performance.md). Delete
# these lines to serve /nbclassic again.
c.ServerApp.jpserver_extensions = {"nbclassic": False, "notebook_shim": False}

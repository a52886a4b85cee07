# Jupyter Server settings for every user's server (copied into the notebook_image
# layer, so an edit rebuilds only that fast top layer).

c = get_config()  # noqa: F821

# Managed deployments update images, not single servers: no update checks to PyPI.
c.LabApp.check_for_updates_class = "jupyterlab.NeverCheckForUpdate"

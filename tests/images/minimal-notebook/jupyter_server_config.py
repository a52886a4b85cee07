# /etc/jupyter/jupyter_server_config.py of the stand-in, after docker-stacks' contract.
import os

c = get_config()  # noqa: F821
c.ServerApp.ip = ""  # every interface, IPv4 and IPv6
c.ServerApp.open_browser = False
c.FileContentsManager.delete_to_trash = False
# NB_UMASK: the umask of everything the server starts.
if "NB_UMASK" in os.environ:
    os.umask(int(os.environ["NB_UMASK"], 8))

"""jupyterhub-deploy's host side: the logic behind tasks.py.

It resolves `.env` and `userlist` (settings, resolve, stack), chooses the option
records (options) and checks them (validation), drives Docker and Compose
(engine), and saves what runs (state). The code that runs inside the hub is the
separate package in hub/ (jhdeploy_hub), installed into the hub image; nothing
here runs there. Its contract module is the one thing both sides import.
"""

import sys
from pathlib import Path

# hub/jhdeploy_hub/contract.py holds the names the hub and the tasks share; it imports nothing.
_HUB_PACKAGE = str(Path(__file__).resolve().parents[1] / "hub")
if _HUB_PACKAGE not in sys.path:
    sys.path.append(_HUB_PACKAGE)

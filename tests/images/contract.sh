#!/usr/bin/env bash
# Print what a notebook base image promises the notebook layers and the spawner: its
# user, paths, permissions, tools, Python, JupyterHub, entrypoint, command and health
# check, one `key: value` line each. Only needs docker (it pulls IMAGE if missing).
#
#   bash tests/images/contract.sh quay.io/jupyter/minimal-notebook:2026-11-23
#   python3 tests/images/check_contract.py IMAGE   # compares with minimal-notebook.contract
set -o errexit -o pipefail -o nounset
image=$1
docker image inspect "$image" >/dev/null 2>&1 || docker pull --quiet "$image" >/dev/null
field() { docker image inspect --format "$1" "$image"; }
echo "entrypoint: $(field '{{json .Config.Entrypoint}}')"
echo "cmd: $(field '{{json .Config.Cmd}}')"
echo "user: $(field '{{.Config.User}}')"
echo "workdir: $(field '{{.Config.WorkingDir}}')"
echo "healthcheck: $(field '{{json .Config.Healthcheck.Test}}')"
echo "exposed: $(field '{{json .Config.ExposedPorts}}')"
docker run --rm --entrypoint bash "$image" -c '
  echo "id: $(id)"
  for path in /opt/conda /home/jovyan /home/jovyan/work /usr/local/bin/start-notebook.d \
              /usr/local/bin/before-notebook.d /etc/jupyter/jupyter_server_config.py; do
    echo "stat $path: $(stat -c "%A %U:%G" "$path" 2>&1)"
  done
  echo "before-notebook.d: $(ls /usr/local/bin/before-notebook.d | tr "\n" " ")"
  for tool in mamba conda pip python tini sudo start.sh fix-permissions start-notebook.py start-singleuser.py \
              start-notebook.sh start-singleuser.sh jupyterhub-singleuser jupyter-lab; do
    echo "command $tool: $(command -v "$tool" || echo missing)"
  done
  echo "python: $(python -c "import sys; print(\"%d.%d\" % sys.version_info[:2])")"
  echo "jupyterhub: $(python -c "import jupyterhub; print(jupyterhub.__version__)" 2>&1)"
  echo "jupyterlab: $(python -c "import jupyterlab; print(jupyterlab.__version__)" 2>&1)"
  echo "condarc: $(test -f /opt/conda/.condarc && echo present || echo missing)"
  echo "conda pins: $(tr "\n" ";" < /opt/conda/conda-meta/pinned 2>&1)"
  echo "jupyter config path: $(jupyter --paths --json | python -c "import json, sys; print(\" \".join(json.load(sys.stdin)[\"config\"]))")"
  for name in CONDA_DIR NB_USER NB_UID NB_GID HOME SHELL JUPYTER_PORT LANG; do echo "env $name: ${!name:-}"; done
'

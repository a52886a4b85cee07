#!/usr/bin/env bash
# Install the notebook users' environment (runs in the notebook_body layer, as NB_UID).
#   1. environment.yml -> `mamba`/`conda env update` of the base environment, when the base has conda;
#   2. kernels/NAME.yml -> an extra conda environment NAME, registered as a Jupyter kernel that runs
#      with that environment's PATH and CONDA_PREFIX;
#   3. the pinned JupyterHub (its single-user part), JupyterLab, Notebook and jupyter-resource-usage
#      (users see their memory against the limit) -> with the base's own
#      package manager (mamba or conda) when it has one, else pip: JupyterHub must equal the hub's;
#      then jupyter-collaboration (real-time collaboration on shared servers) -> always pip;
#   4. requirements.txt -> pip;
#   5. bytecode for every installed module.
# Each download step is retried with a doubling delay: mirrors and channels time out. After each
# install, fix-permissions keeps the environment and the home writable by the users group, as the
# docker-stacks recipes do.
set -o errexit -o pipefail -o nounset

inputs=${1:-/usr/local/share/jhdeploy}
attempts=${NOTEBOOK_BUILD_RETRIES:-3}
delay=${NOTEBOOK_BUILD_RETRY_DELAY:-10}

retry() {
  local attempt=1 wait=$delay
  until "$@"; do
    if [ "$attempt" -ge "$attempts" ]; then
      echo "install-environment: giving up after $attempt attempt(s): $*" >&2
      return 1
    fi
    echo "install-environment: attempt $attempt failed; retrying in ${wait} s: $*" >&2
    sleep "$wait"
    attempt=$((attempt + 1))
    wait=$((wait * 2))
  done
}

has_content() { [ -f "$1" ] && grep -qvE '^[[:space:]]*(#|$)' "$1"; }

conda_tool() {
  if command -v mamba >/dev/null; then echo mamba
  elif command -v conda >/dev/null; then echo conda
  fi
}

fix_permissions() {
  if command -v fix-permissions >/dev/null; then
    fix-permissions "${CONDA_DIR:-/opt/conda}" "/home/${NB_USER:-jovyan}"
  fi
}

tool=$(conda_tool)
need_conda() {
  if [ -z "$tool" ]; then
    echo "install-environment: $1 needs conda, but the base image has none;" \
         "use requirements.txt, or a conda-based DOCKER_NOTEBOOK_BASE" >&2
    return 1
  fi
}

if has_content "$inputs/environment.yml"; then
  need_conda environment.yml
  retry "$tool" env update --name base --file "$inputs/environment.yml"
  fix_permissions
fi

for spec in "$inputs"/kernels/*.yml; do
  [ -e "$spec" ] || continue
  name=$(basename "$spec" .yml)
  need_conda "kernels/$name.yml"
  prefix="$CONDA_DIR/envs/$name"
  retry "$tool" env create --yes --name "$name" --file "$spec"
  "$prefix/bin/python" -m ipykernel install --prefix "$CONDA_DIR" --name "$name" --display-name "Python ($name)"
  # The kernel runs with its environment first on PATH, as `conda activate` would set it up.
  "$prefix/bin/python" - "$CONDA_DIR/share/jupyter/kernels/$name/kernel.json" "$prefix" <<'PYTHON'
import json, sys
path, prefix = sys.argv[1], sys.argv[2]
spec = json.load(open(path))
spec["env"] = {**spec.get("env", {}), "PATH": f"{prefix}/bin:${{PATH}}", "CONDA_PREFIX": prefix}
json.dump(spec, open(path, "w"), indent=1)
PYTHON
  fix_permissions
done

# jupyterhub must equal the hub's version, or logins loop between hub and server. With conda, its
# own records stay true (a pip install over a conda package would leave them stale).
# rfc3987: jsonschema prefers it to rfc3987-syntax, which builds a Lark parser on every import and
# took half of a server's start-up CPU (docs/performance.md). Nothing is removed.
rfc3987="rfc3987==1.3.8"
if [ -n "$tool" ]; then
  retry "$tool" install --yes \
    "jupyterhub-singleuser==${JUPYTERHUB_VERSION}" \
    "jupyterlab==${JUPYTERLAB_VERSION}" \
    "notebook==${NOTEBOOK_VERSION}" \
    "jupyter-resource-usage==${RESOURCE_USAGE_VERSION}" \
    "$rfc3987"
else
  retry pip install --no-cache-dir \
    "jupyterhub==${JUPYTERHUB_VERSION}" \
    "jupyterlab==${JUPYTERLAB_VERSION}" \
    "notebook==${NOTEBOOK_VERSION}" \
    "jupyter-resource-usage==${RESOURCE_USAGE_VERSION}" \
    "$rfc3987"
fi
# Real-time collaboration for shared servers (SHARING=yes), with pip in both branches, after the
# conda install: pip then finds the JupyterLab it needs (>=4.6) and adds only its own packages, the
# same on every base. Installed but off: the notebook_image layer switches it on only where the hub
# sets JHDEPLOY_SHARING=1.
retry pip install --no-cache-dir "jupyter-collaboration==${COLLABORATION_VERSION}"
fix_permissions

if has_content "$inputs/requirements.txt"; then
  retry pip install --no-cache-dir -r "$inputs/requirements.txt"
  fix_permissions
fi

if [ -n "$tool" ]; then
  "$tool" clean --all --force-pkgs-dirs --yes >/dev/null
fi

# Bytecode for every module, written now: a server must never compile at start (each new container
# would compile again, in its own layer). A base built with --no-compile would otherwise pay this.
for python in "$(command -v python3)" "${CONDA_DIR:-/opt/conda}"/envs/*/bin/python; do
  [ -x "$python" ] || continue
  read -r -a paths < <("$python" -c 'import sysconfig; print(*{sysconfig.get_path(k) for k in ("stdlib", "purelib", "platlib")})')
  # Exit 1 means some file does not compile (test data shipped on purpose); Python never imports those.
  "$python" -m compileall -qq -j 0 "${paths[@]}" || true
done
fix_permissions

# The base may pin another JupyterHub (conda-meta/pinned) or hold one pip cannot replace: stop here
# rather than build an image whose servers the hub would not log in to.
installed=$(python -c "import jupyterhub; print(jupyterhub.__version__)")
if [ "$installed" != "$JUPYTERHUB_VERSION" ]; then
  echo "install-environment: the image holds JupyterHub $installed, not JUPYTERHUB_VERSION=$JUPYTERHUB_VERSION;" \
       "the base image keeps its own (see conda-meta/pinned). Choose a DOCKER_NOTEBOOK_BASE that allows it." >&2
  exit 1
fi

#!/usr/bin/env bash
# Install the notebook users' environment (runs in the notebook_body layer).
#   1. environment.yml -> `mamba`/`conda env update` of the base env, when the base image has conda;
#   2. kernels/NAME.yml -> an extra conda env NAME, registered as a Jupyter kernel;
#   3. the pinned Jupyter packages and requirements.txt -> pip.
# Each download step is retried with a doubling delay: mirrors and channels time out.
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
  else
    echo "install-environment: $1 needs conda, but the base image has none;" \
         "use requirements.txt, or a conda-based DOCKER_NOTEBOOK_BASE" >&2
    return 1
  fi
}

if has_content "$inputs/environment.yml"; then
  tool=$(conda_tool environment.yml)
  retry "$tool" env update --name base --file "$inputs/environment.yml"
fi

for spec in "$inputs"/kernels/*.yml; do
  [ -e "$spec" ] || continue
  name=$(basename "$spec" .yml)
  tool=$(conda_tool "kernels/$name.yml")
  retry "$tool" env create --yes --name "$name" --file "$spec"
  "$CONDA_DIR/envs/$name/bin/python" -m ipykernel install --prefix "$CONDA_DIR" \
    --name "$name" --display-name "Python ($name)"
done

if command -v conda >/dev/null; then
  conda clean --all --force-pkgs-dirs --yes >/dev/null
fi

# jupyterhub must equal the hub's version, or logins loop between hub and server.
retry pip install --no-cache-dir \
  "jupyterhub==${JUPYTERHUB_VERSION}" \
  "jupyterlab==${JUPYTERLAB_VERSION}" \
  "notebook==${NOTEBOOK_VERSION}" \
  -r "$inputs/requirements.txt"

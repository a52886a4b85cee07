#!/usr/bin/env bash
# Run once at build time (notebook_image layer): replace docker-stacks' before-notebook.d hook
# `eval "$(conda shell.bash hook)"`, which runs conda's CLI twice on every server start (the hook,
# then `conda activate base`), with a snapshot of what it does: the same shell functions and
# exported variables. They depend only on the image and PATH, so the snapshot replays them when
# PATH is the one seen here and runs the original hook otherwise.
set -o errexit -o pipefail -o nounset

hook=${1:-/usr/local/bin/before-notebook.d/10activate-conda-env.sh}
if [ ! -f "$hook" ] || ! grep -q 'conda shell.bash hook' "$hook" || ! command -v conda >/dev/null; then
  echo "conda-hook-snapshot: no conda activation hook in this base image; nothing to do"
  exit 0
fi

# A clean shell as start.sh has it: the image's environment, no CONDA_SHLVL, no functions.
snapshot=$(env -u CONDA_SHLVL -u CONDA_PREFIX -u CONDA_DEFAULT_ENV bash --norc --noprofile -c '
  before=$(export -p)
  source "$1" >/dev/null
  # The functions, then each exported variable the hook added or changed, as `export` lines (run-hooks
  # may source from inside a function, where `declare` would make them local).
  declare -f
  comm -13 <(sort <<<"$before") <(export -p | sort) | sed "s/^declare -x /export /"
' snapshot "$hook")

original=$(grep -v '^#' "$hook" | sed '/^$/d')
{
  echo '#!/bin/bash'
  echo "# Written at build time by conda-hook-snapshot.sh from docker-stacks' hook; it replays"
  echo "# what the hook did then, without running conda, when PATH is the same. Original hook:"
  echo "#   $original"
  printf 'if [ -z "${CONDA_SHLVL+x}" ] && [ "${PATH}" = %q ]; then\n' "$PATH"
  echo "$snapshot"
  echo 'else'
  echo "  $original"
  echo 'fi'
} > "$hook.new"
chmod --reference="$hook" "$hook.new"
mv "$hook.new" "$hook"
echo "conda-hook-snapshot: $hook now replays the conda activation it made at build time"

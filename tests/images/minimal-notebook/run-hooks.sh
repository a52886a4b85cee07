#!/bin/bash
# Sourced by start.sh with one folder: sources its *.sh files and runs its executables,
# in name order; a hook that fails is reported and the start goes on.
if [ "$#" -ne 1 ] || [ ! -d "$1" ]; then
  echo "run-hooks.sh: expected one folder, got: $*"
  return 1
fi
echo "Running hooks in: $1 as uid: $(id -u) gid: $(id -g)"
for hook in "$1"/*; do
  [ -e "${hook}" ] || continue
  if [[ "${hook}" == *.sh ]]; then
    echo "Sourcing shell script: ${hook}"
    # shellcheck disable=SC1090
    source "${hook}" || echo "${hook} has failed, continuing execution"
  elif [ -x "${hook}" ]; then
    echo "Running executable: ${hook}"
    "${hook}" || echo "${hook} has failed, continuing execution"
  else
    echo "Ignoring non-executable: ${hook}"
  fi
done
echo "Done running hooks in: $1"

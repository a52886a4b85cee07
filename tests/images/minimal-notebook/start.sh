#!/bin/bash
# The entrypoint (after tini): runs the start-notebook.d hooks as the container's
# user, then, as root, makes NB_USER/NB_UID/NB_GID real, runs before-notebook.d as
# root and execs the command as NB_USER through sudo; not as root, runs
# before-notebook.d as the container's user and execs the command.
set -e
echo "Entered start.sh with args:" "$@"
if [ $# -eq 0 ]; then cmd=(bash); else cmd=("$@"); fi
if [ "${_START_SH_EXECUTED}" = "1" ]; then
  exec "${cmd[@]}"
fi
export _START_SH_EXECUTED=1

unset_explicit_env_vars() {
  if [ -n "${JUPYTER_ENV_VARS_TO_UNSET}" ]; then
    for name in ${JUPYTER_ENV_VARS_TO_UNSET//,/ }; do unset "${name}"; done
    unset JUPYTER_ENV_VARS_TO_UNSET
  fi
}

# shellcheck disable=SC1091
source /usr/local/bin/run-hooks.sh /usr/local/bin/start-notebook.d

if [ "$(id -u)" = 0 ]; then
  if [ "${NB_USER}" != jovyan ] && id jovyan &>/dev/null; then
    usermod --home "/home/${NB_USER}" --login "${NB_USER}" jovyan
  fi
  if [ "${NB_UID}" != "$(id -u "${NB_USER}")" ] || [ "${NB_GID}" != "$(id -g "${NB_USER}")" ]; then
    groupadd --force --gid "${NB_GID}" --non-unique "${NB_GROUP:-${NB_USER}}"
    userdel "${NB_USER}"
    useradd --no-log-init --home "/home/${NB_USER}" --shell /bin/bash --uid "${NB_UID}" --gid "${NB_GID}" \
      --groups 100 "${NB_USER}"
  fi
  if [[ "${CHOWN_HOME}" == 1 || "${CHOWN_HOME}" == yes ]]; then
    chown ${CHOWN_HOME_OPTS} "${NB_UID}:${NB_GID}" "/home/${NB_USER}"
  fi
  if [[ "${GRANT_SUDO}" == 1 || "${GRANT_SUDO}" == yes ]]; then
    echo "${NB_USER} ALL=(ALL) NOPASSWD:ALL" >> /etc/sudoers.d/added-by-start-script
  fi
  # shellcheck disable=SC1091
  source /usr/local/bin/run-hooks.sh /usr/local/bin/before-notebook.d
  unset_explicit_env_vars
  echo "Running as ${NB_USER}:" "${cmd[@]}"
  exec sudo --preserve-env --set-home --user "${NB_USER}" PATH="${PATH}" PYTHONPATH="${PYTHONPATH:-}" "${cmd[@]}"
fi

if [ ! -w "/home/${NB_USER}" ]; then
  echo "WARNING: no write access to /home/${NB_USER}; start the container with group users (100)."
fi
# shellcheck disable=SC1091
source /usr/local/bin/run-hooks.sh /usr/local/bin/before-notebook.d
unset_explicit_env_vars
echo "Executing the command:" "${cmd[@]}"
exec "${cmd[@]}"

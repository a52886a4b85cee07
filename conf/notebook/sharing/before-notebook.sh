# Sourced by docker-stacks' start.sh (before-notebook.d) before every command the container runs. Where the hub
# shares servers (JHDEPLOY_SHARING=1) the config dir that switches collaboration and the sharing guard on comes
# first, for the server and for `jupyter server extension list`, `jupyter labextension list` and terminals
# alike (jupyter_server_config.py does the same for a server started without this hook).
if [ "${JHDEPLOY_SHARING:-}" = 1 ]; then
  case ":${JUPYTER_CONFIG_PATH:-}:" in
    *:/usr/local/share/jhdeploy/sharing-on:*) ;;
    *) export JUPYTER_CONFIG_PATH="/usr/local/share/jhdeploy/sharing-on${JUPYTER_CONFIG_PATH:+:${JUPYTER_CONFIG_PATH}}" ;;
  esac
fi

#!/bin/bash
# Kept for old configurations: the .py script does the work.
echo "WARNING: Use start-notebook.py instead"
exec /usr/local/bin/start-notebook.py "$@"

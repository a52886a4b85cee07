#!/bin/bash
# As docker-stacks-foundation's before-notebook.d hook: conda's shell functions, and the base
# environment activated, on every start.
eval "$(conda shell.bash hook)"

#!/opt/conda/bin/python
"""`mamba` and `conda` for the stand-in notebook image, where no conda channel is reachable.

The subcommands the notebook layers call work on real environments: `env update -n base
-f FILE`, `env create -y -n NAME -f FILE`, `install [-y] [-n NAME] SPEC...`, `clean`, `list`
and `--version`; `conda shell.bash hook` and `conda shell.posix activate [NAME]` print
what conda's do (docker-stacks' before-notebook.d hook runs them on every start).
Pins in `conda-meta/pinned` hold. Packages come from PyPI under their PyPI
names (a short table maps the conda-forge names that differ); a package with no PyPI
equivalent is refused by name.

Certificates follow each tool's own rules, so that a build behind a TLS-inspecting proxy
fails here where it fails with the real tools:
- mamba 2 reads only MAMBA_SSL_VERIFY and the `ssl_verify` key of .condarc, and otherwise
  trusts $CONDA_DIR/ssl/cacert.pem (the public CAs); REQUESTS_CA_BUNDLE, SSL_CERT_FILE,
  PIP_CERT and CONDA_SSL_VERIFY do nothing for it;
- conda reads CONDA_SSL_VERIFY, then `ssl_verify` in .condarc, then REQUESTS_CA_BUNDLE.
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

CONDA_DIR = Path(os.environ.get("CONDA_DIR", "/opt/conda"))
TOOL = Path(sys.argv[0]).name
# conda-forge names whose PyPI name differs; None: no PyPI equivalent.
PYPI_NAMES = {"jupyterhub-singleuser": "jupyterhub", "jupyterhub-base": "jupyterhub",
              "matplotlib-base": "matplotlib", "pytorch": "torch", "py-xgboost": "xgboost",
              "r-base": None, "nodejs": None, "openjdk": None, "julia": None}
VERSIONS = {"mamba": "2.3.3", "conda": "25.9.1"}


def condarc_ssl_verify() -> str | None:
    for path in (Path(os.environ.get("CONDARC", "/nonexistent")), CONDA_DIR / ".condarc",
                 Path.home() / ".condarc", Path.home() / ".conda" / "condarc"):
        if path.is_file():
            value = (yaml.safe_load(path.read_text()) or {}).get("ssl_verify")
            if value is not None:
                return str(value)
    return None


def ssl_verify() -> str:
    """The CA bundle (or "false") this tool verifies TLS against."""
    if TOOL == "mamba":
        choice = os.environ.get("MAMBA_SSL_VERIFY") or condarc_ssl_verify()
    else:
        choice = os.environ.get("CONDA_SSL_VERIFY") or condarc_ssl_verify() or os.environ.get("REQUESTS_CA_BUNDLE")
    if choice is None or choice.lower() in ("true", "yes", "1"):
        return str(CONDA_DIR / "ssl" / "cacert.pem")
    return choice


def prefix_of(name: str | None, prefix: str | None) -> Path:
    if prefix:
        return Path(prefix)
    return CONDA_DIR if name in (None, "base") else CONDA_DIR / "envs" / name


def parse(spec: str) -> tuple[str, str, str]:
    """A conda match spec's (name, operator, version); the operator and version may be empty."""
    match = re.match(r"^\s*([A-Za-z0-9_.-]+)\s*(==|=|>=|<=|>|<|!=|\s)?\s*([^\s\[]*)", spec.split("::")[-1])
    if not match:
        sys.exit(f"{TOOL}: cannot read the package spec {spec!r}")
    return match.group(1).lower(), (match.group(2) or "").strip(), match.group(3)


def pip_spec(spec: str) -> str | None:
    """A conda match spec as a pip requirement; None for python itself."""
    name, operator, version = parse(spec)
    if name == "python":
        return None
    if name in PYPI_NAMES and PYPI_NAMES[name] is None:
        sys.exit(f"{TOOL} (stand-in): {name} has no PyPI equivalent, so this image cannot install it")
    name = PYPI_NAMES.get(name, name)
    if not version:
        return name
    if operator in ("", "=", "=="):
        return f"{name}=={version}" if "*" in version or version.count(".") >= 2 else f"{name}=={version}.*"
    return f"{name}{operator}{version}"


def check_pins(prefix: Path, specs: list[str]) -> None:
    """conda-meta/pinned holds, as with the real solver: a spec against a pin cannot be solved."""
    path = prefix / "conda-meta" / "pinned"
    lines = path.read_text().splitlines() if path.is_file() else []
    pins = {parse(line)[0]: parse(line)[2] for line in lines if line.strip() and not line.startswith("#")}
    for spec in specs:
        name, operator, version = parse(spec)
        for pinned in {name, PYPI_NAMES.get(name) or name} & set(pins):
            # `=3.13` means 3.13.*, which a `3.13.*` pin allows.
            wanted = version if operator == "==" or version.count(".") >= 2 else f"{version}.0"
            if version and operator in ("", "=", "==") and not fnmatch.fnmatch(wanted, pins[pinned]):
                sys.exit(f"error    libmamba Could not solve for environment specs\n"
                         f"    {spec} conflicts with the pin `{pinned} {pins[pinned]}` in {path}")


def pip_install(prefix: Path, specs: list[str]) -> None:
    check_pins(prefix, specs)
    requirements = [req for req in (pip_spec(s) for s in specs) if req]
    if not requirements:
        return
    bundle = ssl_verify()
    env = {k: v for k, v in os.environ.items()
           if k not in ("PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE")}
    tls = ["--trusted-host", "pypi.org", "--trusted-host", "files.pythonhosted.org"] if bundle.lower() == "false" \
        else ["--cert", bundle]
    print(f"{TOOL}: installing {' '.join(requirements)} into {prefix} (verifying TLS with {bundle})", flush=True)
    result = subprocess.run([str(prefix / "bin" / "pip"), "install", "--no-cache-dir", *tls, *requirements],
                            env=env)
    if result.returncode != 0:
        sys.exit(f"{TOOL}: could not download the packages (CondaHTTPError / SSL?): exit {result.returncode}")


def specs_of(file: str) -> list[str]:
    spec = yaml.safe_load(Path(file).read_text()) or {}
    found = []
    for item in spec.get("dependencies", []) or []:
        if isinstance(item, dict):
            found += [f"{p}" for p in item.get("pip", [])]
        else:
            found.append(str(item))
    return found


def create_env(prefix: Path) -> None:
    if prefix.exists():
        sys.exit(f"{TOOL}: {prefix} exists already")
    subprocess.run(["/usr/bin/python3", "-m", "venv", str(prefix)], check=True)


# What `conda shell.bash hook` prints (conda's etc/profile.d/conda.sh, shortened): the shell
# functions, then `conda activate base`, which runs conda once more.
HOOK = r"""export CONDA_EXE='{conda}'
export _CE_M=''
export _CE_CONDA=''
export CONDA_PYTHON_EXE='{python}'
__conda_exe() (
    "$CONDA_EXE" "$@"
)
__conda_activate() {{
    \local ask_conda
    ask_conda="$(PS1="${{PS1:-}}" __conda_exe shell.posix "$@")" || \return
    \eval "$ask_conda"
    \hash -r
}}
conda() {{
    \local cmd="${{1-__missing__}}"
    case "$cmd" in
        activate|deactivate) __conda_activate "$@" ;;
        *) __conda_exe "$@" ;;
    esac
}}
if [ -z "${{CONDA_SHLVL+x}}" ]; then
    \export CONDA_SHLVL=0
    PATH="{condabin}${{PATH:+":${{PATH}}"}}"
    \export PATH
    if [ -z "${{PS1+x}}" ]; then
        PS1=
    fi
fi
conda activate base
"""


def shell(argv: list[str]) -> int:
    """`shell.bash hook`, and `shell.posix activate [NAME]`, as conda prints them."""
    if argv[1:] == ["hook"]:
        print(HOOK.format(conda=CONDA_DIR / "bin/conda", python=CONDA_DIR / "bin/python",
                          condabin=CONDA_DIR / "condabin"), end="")
        return 0
    if argv[1] != "activate":
        print(f"{TOOL} stand-in: shell.posix {argv[1]} is not implemented", file=sys.stderr)
        return 2
    name = (argv[2:] or ["base"])[0]
    prefix = prefix_of(name, None)
    bins = {str(CONDA_DIR / "bin"), *(str(p / "bin") for p in (CONDA_DIR / "envs").glob("*"))}
    path = [entry for entry in os.environ.get("PATH", "").split(":") if entry not in bins]
    level = int(os.environ.get("CONDA_SHLVL", "0"))
    exports = {"PATH": ":".join([str(prefix / "bin"), *path]), "CONDA_PREFIX": str(prefix),
               "CONDA_SHLVL": str(level + 1), "CONDA_DEFAULT_ENV": name, "CONDA_PROMPT_MODIFIER": f"({name}) ",
               "CONDA_EXE": str(CONDA_DIR / "bin/conda"), "_CE_M": "", "_CE_CONDA": "",
               "CONDA_PYTHON_EXE": str(CONDA_DIR / "bin/python")}
    print(f"PS1='({name}) '\n" + "".join(f"export {key}='{value}'\n" for key, value in exports.items()), end="")
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] in (["--version"], ["-V"]):
        print(f"{TOOL} {VERSIONS[TOOL]}")
        return 0
    if argv[:1] and argv[0].startswith("shell."):
        return shell(argv)
    parser = argparse.ArgumentParser(prog=TOOL)
    commands = parser.add_subparsers(dest="command", required=True)
    env = commands.add_parser("env").add_subparsers(dest="action", required=True)
    for action in ("update", "create"):
        sub = env.add_parser(action)
        sub.add_argument("-n", "--name")
        sub.add_argument("-p", "--prefix")
        sub.add_argument("-f", "--file", required=True)
        sub.add_argument("-y", "--yes", action="store_true")
        sub.add_argument("--prune", action="store_true")
    install = commands.add_parser("install")
    install.add_argument("-n", "--name")
    install.add_argument("-p", "--prefix")
    install.add_argument("-y", "--yes", action="store_true")
    install.add_argument("-c", "--channel", action="append")
    install.add_argument("specs", nargs="+")
    clean = commands.add_parser("clean")
    for flag in ("-a", "--all", "-f", "--force-pkgs-dirs", "-y", "--yes", "-q", "--quiet"):
        clean.add_argument(flag, action="store_true", dest=flag.strip("-").replace("-", "_"))
    listing = commands.add_parser("list")
    listing.add_argument("-n", "--name")
    args = parser.parse_args(argv)

    if args.command == "env":
        prefix = prefix_of(args.name, args.prefix)
        if args.action == "create":
            create_env(prefix)
        pip_install(prefix, specs_of(args.file))
    elif args.command == "install":
        pip_install(prefix_of(args.name, args.prefix), args.specs)
    elif args.command == "clean":
        shutil.rmtree(CONDA_DIR / "pkgs", ignore_errors=True)
    elif args.command == "list":
        subprocess.run([str(prefix_of(args.name, None) / "bin" / "pip"), "list"], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

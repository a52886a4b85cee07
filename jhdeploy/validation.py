"""Every rule a resolved stack must meet before a task may act on it, one sentence per broken rule.

settings.py checks each value on its own; this module checks what the values
mean together and what the chosen records call for (options.py): a record's
fields say which rules apply, and each rule lives here once.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

from jhdeploy import cacerts, groups, kinds, metricsconf, options
from jhdeploy.errors import DeployError
from jhdeploy.stack import Stack

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")


def file_problems(stack: Stack) -> Iterator[str]:
    """Settings that name files: the files must exist and be usable."""
    for key, what in (("ACME_CA_ROOT", "a PEM certificate"), ("EXTRA_CA_CERTS", "PEM certificates")):
        value = stack.settings[key]
        if value and not (stack.root / value).exists():
            yield f"{key}={value!r}: no such file{' or folder' if key == 'EXTRA_CA_CERTS' else ''}."
        elif value:
            try:
                cacerts.collect(stack.root / value)
            except ValueError as error:
                yield f"{key}={value!r}: {error}; expected {what}."


def shared_folder_problems(stack: Stack) -> Iterator[str]:
    """A host path shared with every user must not hold this project's .env or secrets/."""
    shared = stack.settings["SHARED_VOLUME"]
    path, checkout = Path(shared).resolve(), stack.root.resolve()
    if shared.startswith("/") and (path == checkout or checkout in path.parents or path in checkout.parents):
        yield (f"SHARED_VOLUME={shared!r} would show every user this project's folder, with its .env and secrets/; "
               "choose a folder outside it.")


def auth_problems(stack: Stack, provided: frozenset[str] = frozenset()) -> Iterator[str]:
    """What the chosen authenticator's record calls for and the settings lack, with where to get it.
    `provided`: files that will be in secrets/ by the time the stack starts (a restore brings them)."""
    s, auth = stack.settings, stack.authenticator
    for key, where in auth.required:
        if not s[key]:
            yield f"JUPYTERHUB_AUTHENTICATOR={auth.name} needs {key}: {where}."
    key, name = auth.from_env or ("", "")
    file = options.SECRETS[name].file if name else ""
    if name and not options.SECRETS[name].generate and not s[key] and not (stack.secret_path(name).exists()
                                                                           or file in provided):
        yield (f"JUPYTERHUB_AUTHENTICATOR={auth.name} needs {key} in .env, or the secret in "
               f"secrets/{options.SECRETS[name].file}: it comes with the client id.")
    key, endpoints = auth.discovery or ("", ())
    missing = [endpoint for endpoint in endpoints if not s[endpoint]]
    if key and not s[key] and missing:
        yield (f"JUPYTERHUB_AUTHENTICATOR={auth.name} needs {key} (the provider's "
               f".well-known/openid-configuration), or else {', '.join(missing)}.")
    callback = s["OAUTH_CALLBACK_URL"]
    if auth.oauth_callback and callback and urlsplit(callback).hostname != stack.host:
        yield (f"OAUTH_CALLBACK_URL={callback!r} must point at this hub's host {stack.host!r} "
               "(JH_FQDN, or localhost when JH_FQDN is empty).")


def acme_problems(stack: Stack) -> Iterator[str]:
    """A certificate over ACME (use_ssl_le) needs a public name, an email, and a usable ACME server."""
    s = stack.settings
    fqdn, email, server = s["JH_FQDN"], s["JH_EMAIL"], s["CERT_SERVER"]
    if not fqdn or kinds.is_ip(fqdn) or "." not in fqdn or fqdn == "localhost" or fqdn.endswith(".localhost"):
        yield (f"JH_FQDN={fqdn!r}: Let's Encrypt (use_ssl_le, --le) needs the public DNS name of "
               "this host, such as hub.example.org; not empty, not localhost, not an IP address.")
    if not _EMAIL.match(email):
        yield (f"JH_EMAIL={email!r}: Let's Encrypt (use_ssl_le, --le) needs the ACME account's "
               "email address, such as admin@example.org.")
    if server not in options.LETS_ENCRYPT and not re.match(r"^https://\S+$", server):
        yield (f"CERT_SERVER={server!r}: expected empty (Let's Encrypt), --staging, or an ACME "
               "directory URL starting with https://.")


def own_certificate_problems(stack: Stack) -> Iterator[str]:
    """The admin's certificate (use_ssl_own) is checked at start, and served as it is."""
    from jhdeploy import certs  # cryptography's x509, imported only when a certificate is checked

    named = dict(zip(("ssl_cert", "ssl_key"), stack.ssl.tls_files, strict=True))
    missing = [key for key in (*named.values(), "JH_FQDN") if not stack.settings[key]]
    if missing:
        yield (f"JUPYTERHUB_SSL={stack.ssl.name} needs {', '.join(missing)}: your certificate, its key, and the "
               "host name it is for.")
    else:
        yield from certs.own_problems(*map(stack.secret_source, named), stack.settings["JH_FQDN"])


def swarm_problems(stack: Stack) -> Iterator[str]:
    """What `invoke swarm-deploy` does not run yet, said before anything starts."""
    if stack.in_swarm and stack.uses_le:
        yield (f"JUPYTERHUB_SSL={stack.ssl.name} is not supported on Docker Swarm yet: put your own TLS "
               "proxy in front and use no_ssl, or use_ssl_ss.")
    if stack.in_swarm and stack.uses_postgres:
        yield (f"JUPYTERHUB_DB_URL={stack.database.name} is not supported on Docker Swarm yet: use sqlite, "
               "or a full SQLAlchemy URL to a PostgreSQL server of your own.")
    with_gpus = [f"[groups.{name}] of {groups.FILE}" for name, spec in stack.groups.groups.items() if "gpus" in spec]
    if stack.in_swarm and (stack.settings["NOTEBOOK_GPUS"] or with_gpus):
        yield (f"GPUs ({', '.join(with_gpus) or 'NOTEBOOK_GPUS'}) are not supported on Docker Swarm yet: swarm "
               "services get no device requests. Remove them, or run the GPU users on a single host.")


def snapshot_problems(stack: Stack, provided: frozenset[str] = frozenset()) -> Iterator[str]:
    """A snapshot repository gets the files its kind needs (options.REPOSITORIES)."""
    value = stack.settings["BACKUP_REPOSITORY"]
    if stack.in_swarm and stack.settings["BACKUP_SCHEDULE"]:
        yield ("BACKUP_SCHEDULE is not supported on Docker Swarm yet (users' volumes live on the nodes): set it "
               "to off, and take `invoke backup --user-volumes` archives.")
    if options.SNAPSHOTS not in stack.addons:
        return
    for name in options.repository_of(value).secrets:
        file = options.SECRETS[name].file
        if not (stack.secret_path(name).exists() or file in provided):
            yield f"BACKUP_REPOSITORY={value!r} needs the file secrets/{file} (see docs/backups.md)."


def metrics_problems(stack: Stack) -> Iterator[str]:
    """The metrics add-on: receivers that can send, thresholds in order, alert rules that render."""
    s = stack.settings
    if not metricsconf.on(stack):
        return
    if s["ALERT_EMAIL_TO"]:
        for key in ("ALERT_SMTP_HOST", "ALERT_EMAIL_FROM"):
            if not s[key]:
                yield f"ALERT_EMAIL_TO={s['ALERT_EMAIL_TO']!r} needs {key} too (the relay and the sender)."
    if s["ALERT_SMTP_USER"] and not (s["ALERT_SMTP_PASSWORD"] or stack.secret_path("alert_smtp_password").exists()):
        yield (f"ALERT_SMTP_USER={s['ALERT_SMTP_USER']!r} needs ALERT_SMTP_PASSWORD in .env, or the file "
               "secrets/alert_smtp_password.")
    warn, critical = s["ALERT_DISK_WARN_PERCENT"], s["ALERT_DISK_CRITICAL_PERCENT"]
    if warn >= critical:
        yield (f"ALERT_DISK_WARN_PERCENT={warn} must be below ALERT_DISK_CRITICAL_PERCENT={critical}: the "
               "warning comes first.")
    try:
        metricsconf.rules(stack.root, s.values)
    except DeployError as error:
        yield str(error)


def sharing_problems(stack: Stack) -> Iterator[str]:
    s = stack.settings
    if s["SHARING_BY_NAME"] and not s["SHARING"]:
        yield "SHARING_BY_NAME=yes needs SHARING=yes: it adds sharing by name to sharing with a link."


def problems(stack: Stack, provided: frozenset[str] = frozenset()) -> list[str]:
    """Every rule the stack breaks; empty when a task may act on it. The SSL mode's record says which
    certificate rules apply; `provided` names secret files that a restore brings along."""
    rules = [file_problems, shared_folder_problems, functools.partial(auth_problems, provided=provided),
             swarm_problems, functools.partial(snapshot_problems, provided=provided), metrics_problems,
             sharing_problems]
    rules += [acme_problems] if stack.ssl.acme else []
    rules += [own_certificate_problems] if stack.ssl.tls_files else []
    return [problem for rule in rules for problem in rule(stack)]

"""Read a `.env` file and expand `${VAR}` the way Docker Compose does.

The one interpolation engine of the project: the tasks resolve every value
here, once, and hand the results to Compose and to the hub, which never
interpolate again. The rules are Compose's (compose-go's dotenv and template
packages; `docker compose config --environment` shows the same results):

- `KEY=value`, an optional `export ` prefix, blank lines and `# comments`;
- unquoted values end at ` #` and lose surrounding blanks; a backslash is literal;
- 'single quotes' are literal: no escapes, no interpolation;
- "double quotes" may span lines and know \\n, \\t, \\", \\\\ and \\$;
- `$$` is a literal `$`; `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`,
  `${VAR:?error}`, `${VAR?error}`, `${VAR:+other}` and `${VAR+other}` expand,
  and defaults may hold further references.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

Lookup = Callable[[str], "str | None"]

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DOUBLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "$": "$$"}


class EnvFileError(ValueError):
    """A line that Compose would refuse too, or a `${VAR:?message}` that fired."""


@dataclass(frozen=True)
class Entry:
    key: str
    value: str  # the text after unquoting, not yet interpolated
    literal: bool  # single-quoted: never interpolated
    line: int
    span: tuple[int, int] = (0, 0)  # where its lines are in the text, without the last line's newline


def parse(text: str, source: str = ".env") -> list[Entry]:
    """The entries of a `.env` file, in order, unquoted but not interpolated."""
    entries: list[Entry] = []
    position, line = 0, 1
    while position < len(text):
        end = text.find("\n", position)
        end = len(text) if end < 0 else end
        raw = text[position:end]
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            position, line = end + 1, line + 1
            continue
        if stripped.startswith("export "):
            stripped = stripped[len("export "):].lstrip()
        key, sep, rest = stripped.partition("=")
        key = key.strip()
        if not sep or not _KEY.fullmatch(key):
            raise EnvFileError(f"{source}, line {line}: expected KEY=value, got {raw.strip()!r}.")
        rest = rest.lstrip()
        start_line = line
        if rest[:1] in ("'", '"'):
            quote = rest[0]
            # The value may continue over the following lines until its closing quote.
            offset = position + raw.index(rest) + 1
            closing = _closing_quote(text, offset, quote)
            if closing < 0:
                raise EnvFileError(f"{source}, line {line}: {key} has an opening {quote} but no closing one.")
            body = text[offset:closing]
            line += body.count("\n")
            value = body if quote == "'" else _unescape_double(body)
            after = text.find("\n", closing)
            entries.append(Entry(key, value, quote == "'", start_line, (position, len(text) if after < 0 else after)))
            position = len(text) if after < 0 else after + 1
            line += 1
            continue
        comment = re.search(r"\s#", rest)
        value = (rest[: comment.start()] if comment else rest).strip()
        entries.append(Entry(key, value, False, start_line, (position, end)))
        position, line = end + 1, line + 1
    return entries


def _closing_quote(text: str, offset: int, quote: str) -> int:
    index = offset
    while index < len(text):
        char = text[index]
        if char == "\\" and quote == '"':
            index += 2
            continue
        if char == quote:
            return index
        index += 1
    return -1


def _unescape_double(body: str) -> str:
    # `\$` stays a literal dollar: it becomes `$$`, which interpolation turns back into `$`.
    return re.sub(r"\\(.)", lambda m: _DOUBLE_ESCAPES.get(m.group(1), "\\" + m.group(1)), body, flags=re.S)


def interpolate(value: str, lookup: Lookup, where: str = "") -> str:
    """Expand references in `value`; `lookup(name)` returns None for an unset variable."""
    out: list[str] = []
    index = 0
    while index < len(value):
        char = value[index]
        if char != "$" or index + 1 == len(value):
            out.append(char)
            index += 1
            continue
        following = value[index + 1]
        if following == "$":
            out.append("$")
            index += 2
        elif following == "{":
            closing = _matching_brace(value, index + 1)
            if closing < 0:
                raise EnvFileError(f"{where}: unclosed '${{' in {value!r}.")
            out.append(_expand(value[index + 2:closing], lookup, where))
            index = closing + 1
        elif match := _NAME.match(value, index + 1):
            out.append(lookup(match.group()) or "")
            index = match.end()
        else:
            out.append("$")
            index += 1
    return "".join(out)


def _matching_brace(value: str, opening: int) -> int:
    depth = 0
    for index in range(opening, len(value)):
        if value[index] == "{":
            depth += 1
        elif value[index] == "}":
            depth -= 1
            if depth == 0:
                return index
    return -1


def _expand(expression: str, lookup: Lookup, where: str) -> str:
    match = _NAME.match(expression)
    if not match:
        raise EnvFileError(f"{where}: '${{{expression}}}' is not a variable reference.")
    name, rest = match.group(), expression[match.end():]
    current = lookup(name)
    if not rest:
        return current or ""
    for operator in (":-", ":?", ":+", "-", "?", "+"):
        if rest.startswith(operator):
            argument = rest[len(operator):]
            break
    else:
        raise EnvFileError(f"{where}: '${{{expression}}}' uses an operator Compose does not know.")
    unset = current is None or (operator.startswith(":") and current == "")
    if operator.endswith("-"):
        return interpolate(argument, lookup, where) if unset else current
    if operator.endswith("+"):
        return "" if unset else interpolate(argument, lookup, where)
    if unset:
        message = interpolate(argument, lookup, where) or "it must be set"
        raise EnvFileError(f"{where}: {name} is required: {message}")
    return current


def blank(text: str, keys, note: str) -> tuple[str, list[str]]:
    """`text` with the value of each of `keys` emptied (a quoted value over several lines too), `note` in a
    comment line above it; and the keys that had a value. (`KEY=  # note` would set KEY to "# note".)"""
    blanked = [entry for entry in parse(text) if entry.key in keys and entry.value]
    for entry in reversed(blanked):
        start, end = entry.span
        text = f"{text[:start]}# {entry.key}: {note}\n{entry.key}={text[end:]}"
    return text, sorted({entry.key for entry in blanked})


def set_value(text: str, key: str, value: str, note: str) -> str:
    """`text` with `key` set to `value` (a plain word), `note` in a comment line above it; added when absent."""
    entries = [entry for entry in parse(text) if entry.key == key]
    if not entries:
        return f"{text}{'' if text.endswith(chr(10)) or not text else chr(10)}# {key}: {note}\n{key}={value}\n"
    for entry in reversed(entries):
        start, end = entry.span
        text = f"{text[:start]}# {key}: {note}\n{key}={value}{text[end:]}"
    return text


def read(path: Path) -> list[Entry]:
    return parse(path.read_text(encoding="utf-8"), source=path.name) if path.exists() else []

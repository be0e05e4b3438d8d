# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Service configuration: one YAML file plus secrets read from files, never from environment values.

Secrets arrive as files (the roles pass them with systemd ``LoadCredential=`` and mount them
read-only), so a setting holding a secret is a ``*_file`` path; :func:`read_secret_file` reads it.
:class:`ConfigError` names the setting and the fix; :func:`validation_messages` turns a pydantic
``ValidationError`` into one line per wrong setting.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import yaml

from ansible_collections.quadstats.stack.plugins.module_utils.errors import KIND_INVALID_OPTION, QuadstatsError

MAX_SECRET_BYTES = 64 * 1024


class ConfigError(QuadstatsError):
    """A configuration setting or secret file is wrong; the message names it and the fix."""

    kind = KIND_INVALID_OPTION


def load_yaml_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The mapping in the YAML file ``path`` (an empty file is an empty mapping)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"configuration file {p} does not exist: pass --config with the right path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"configuration file {p} cannot be read: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"configuration file {p} is not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"configuration file {p} must hold a mapping of settings, not {type(data).__name__}")
    return data


def read_secret_file(path: str | os.PathLike[str], setting: str) -> str:
    """The secret in ``path`` (one trailing newline removed); ``setting`` names it in every error.

    The file must be a regular file, readable, not readable by others (mode ``o-r``), non-empty and
    small. The secret itself never appears in a message.
    """
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise ConfigError(f"setting {setting}: secret file {p} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"setting {setting}: secret file {p} cannot be read: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise ConfigError(f"setting {setting}: {p} is not a regular file")
    if st.st_mode & stat.S_IROTH:
        raise ConfigError(f"setting {setting}: secret file {p} is readable by others: chmod o-rwx {p}")
    if st.st_size > MAX_SECRET_BYTES:
        raise ConfigError(f"setting {setting}: secret file {p} is larger than {MAX_SECRET_BYTES} bytes")
    try:
        value = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"setting {setting}: secret file {p} cannot be read: {exc}") from None
    value = value[:-1] if value.endswith("\n") else value
    if not value:
        raise ConfigError(f"setting {setting}: secret file {p} is empty")
    return value


def validation_messages(exc: Any, prefix: str = "") -> list[str]:
    """One ``setting a.b.c: problem`` line per error of a pydantic ``ValidationError``."""
    lines = []
    for err in exc.errors():
        loc = ".".join(str(part) for part in err.get("loc", ()))
        name = f"{prefix}{loc}" if loc else prefix.rstrip(".") or "(top level)"
        msg = err.get("msg", "invalid")
        if err.get("type") == "extra_forbidden":
            msg = "unknown setting (check the spelling; docs/backend.md lists every setting)"
        lines.append(f"setting {name}: {msg}")
    return lines

"""Config dataclass helpers shared by every algorithm (``--set key=value`` overrides, JSON).

Every algorithm module defines a ``Config`` dataclass whose fields all have defaults and which
has at least ``algo: str``, ``env_id: str``, ``seed: int`` and ``iterations: int``. Overrides
coming from the command line are strings; :func:`apply_overrides` parses each one as the type
of the field's current value (bool, int, float, str, tuple), so ``--set inner_lr=0.05`` and
``--set hidden_sizes=(32,32)`` both work, and an unknown key is a :class:`ConfigError`.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import math
from collections.abc import Mapping
from typing import Any, TypeVar

C = TypeVar("C")


class ConfigError(ValueError):
    """An unknown config key or a value that does not parse as the field's type."""


def _parse(name: str, text: str, current: Any) -> Any:
    if isinstance(current, bool):
        low = text.strip().lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"config key {name!r} takes true/false, got {text!r}")
    if isinstance(current, str) or current is None:
        if current is None:
            try:
                return ast.literal_eval(text)
            except (ValueError, SyntaxError):
                return text
        return text
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError) as exc:
        raise ConfigError(f"config key {name!r}: cannot parse {text!r}") from exc
    if (
        isinstance(current, float)
        and isinstance(value, (int, float))
        and not isinstance(value, bool)
    ):
        return float(value)
    if isinstance(current, int) and isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(current, tuple) and isinstance(value, (tuple, list)):
        return tuple(value)
    if isinstance(current, tuple) and isinstance(value, (int, float)):
        return (value,)
    raise ConfigError(f"config key {name!r} takes a {type(current).__name__}, got {text!r}")


def apply_overrides(config: C, overrides: Mapping[str, Any]) -> C:
    """A copy of ``config`` with ``overrides`` applied (strings are parsed, see module doc).

    Raises:
        ConfigError: an unknown key (the message lists the known ones) or an unparsable value.
    """
    names = [f.name for f in dataclasses.fields(config)]  # type: ignore[arg-type]
    changes: dict[str, Any] = {}
    for key, raw in overrides.items():
        if key not in names:
            raise ConfigError(f"unknown config key {key!r}; known keys: {', '.join(names)}")
        current = getattr(config, key)
        changes[key] = _parse(key, raw, current) if isinstance(raw, str) else raw
    try:
        return dataclasses.replace(config, **changes)  # type: ignore[type-var]
    except (TypeError, ValueError) as exc:
        raise ConfigError(str(exc)) from exc


def config_from_dict(cls: type[C], data: Mapping[str, Any]) -> C:
    """Rebuild a config from ``dataclasses.asdict`` output (lists become tuples again).

    A key missing from ``data`` takes its value from ``cls.LEGACY_DEFAULTS`` if the class
    has one there (a setting added later, whose old behaviour differs from its new default,
    e.g. ``action_scale`` 1.0 for gradient-based checkpoints written before it existed), else
    the field's default.
    """
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"unknown config keys {unknown} for {cls.__name__}")
    legacy = {k: v for k, v in getattr(cls, "LEGACY_DEFAULTS", {}).items() if k not in data}
    fixed = {k: tuple(v) if isinstance(v, list) else v for k, v in {**legacy, **data}.items()}
    return cls(**fixed)


def config_to_json(config: Any) -> str:
    """The config as pretty JSON (for ``config.json`` in the run directory)."""
    return json.dumps(dataclasses.asdict(config), indent=2, sort_keys=True) + "\n"


def describe_differences(
    saved: Mapping[str, Any], current: Mapping[str, Any], ignore: tuple[str, ...] = ()
) -> str:
    """``"key saved there, current here, ..."`` for every key of ``current`` (outside ``ignore``)
    whose value differs in ``saved``; ``""`` if none does. Error messages use it to say how a
    checkpoint differs from the run that wants to use it.

    >>> describe_differences({"lr": 0.001, "seed": 0}, {"lr": 0.1, "seed": 0})
    'lr 0.001 there, 0.1 here'
    """
    return ", ".join(f"{k} {saved.get(k)!r} there, {v!r} here" for k, v in current.items()
                     if k not in ignore and saved.get(k) != v)


def budget_spent(max_env_steps: int, env_steps: float) -> bool:
    """Whether a run with env-step budget ``max_env_steps`` (0: none) has used it up.

    >>> budget_spent(0, 10**9), budget_spent(1000, 999), budget_spent(1000, 1000)
    (False, False, True)
    """
    return max_env_steps > 0 and env_steps >= max_env_steps


def expected_iterations(iterations: int, max_env_steps: int, done: int, env_steps: float) -> int:
    """The iteration a run is expected to end at: ``iterations``, or sooner when the env-step
    budget will run out first at the mean steps per iteration so far (a progress bar's total).

    >>> expected_iterations(1000, 0, 10, 500), expected_iterations(1000, 5000, 10, 500)
    (1000, 100)
    """
    if max_env_steps <= 0 or done <= 0 or env_steps <= 0:
        return iterations
    per_iteration = env_steps / done
    return min(iterations, done + max(0, math.ceil((max_env_steps - env_steps) / per_iteration)))

"""Setting config fields from strings (``--set key=value``) and files (``--config FILE``).

Every field of the model's config dataclass and of ``TrainConfig`` is reachable by its name;
``model.NAME`` / ``train.NAME`` disambiguate. Values are parsed by the field's annotation and the
dataclass validates them in ``__post_init__``: a wrong key or value is one line naming it.
"""

from __future__ import annotations

import dataclasses
import json
import math
import typing
from pathlib import Path

from .errors import GenlabError


def _type_name(tp) -> str:
    origin = typing.get_origin(tp)
    if origin is tuple:
        return "comma-separated list of " + _type_name(typing.get_args(tp)[0]) + "s"
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        return " or ".join(_type_name(a) for a in typing.get_args(tp) if a is not type(None))
    return {int: "integer", float: "number", bool: "boolean (true/false)", str: "string"}.get(tp, str(tp))


def parse_value(raw, tp, key: str):
    """Parse ``raw`` (a string from the command line, or a JSON value) as type ``tp``."""
    origin = typing.get_origin(tp)
    try:
        if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if raw is None or (isinstance(raw, str) and raw.lower() in ("none", "null", "")):
                return None
            return parse_value(raw, args[0], key)
        if origin is tuple:
            (elem, *_rest) = typing.get_args(tp)
            if isinstance(raw, str):
                items = [
                    s
                    for s in raw.replace("(", "").replace(")", "").replace("[", "").replace("]", "").split(",")
                    if s.strip()
                ]
            else:
                items = list(raw)
            return tuple(parse_value(s.strip() if isinstance(s, str) else s, elem, key) for s in items)
        if tp is bool:
            if isinstance(raw, bool):
                return raw
            if str(raw).lower() in ("1", "true", "yes", "on"):
                return True
            if str(raw).lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if tp is int:
            if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
                raise ValueError
            if isinstance(raw, str):
                f = float(raw)
                if not f.is_integer():
                    raise ValueError
                return int(f)
            return int(raw)
        if tp is float:
            if isinstance(raw, bool) or not math.isfinite(float(raw)):
                raise ValueError  # inf and nan are never a setting
            return float(raw)
        if tp is str:
            return str(raw)
    except (ValueError, TypeError):
        pass
    raise GenlabError(f"{key} expects a {_type_name(tp)}{' (finite)' if tp is float else ''}, got '{raw}'")


def field_types(dc) -> dict[str, object]:
    hints = typing.get_type_hints(type(dc))
    return {f.name: hints[f.name] for f in dataclasses.fields(dc)}


def apply_settings(configs: dict[str, typing.Any], settings: dict[str, object]) -> dict[str, typing.Any]:
    """Return new dataclasses with ``settings`` applied.

    configs: {"model": ModelConfig(...), "train": TrainConfig(...)}; settings: {"beta": "4", "train.lr": "1e-3"}.
    """
    changes: dict[str, dict] = {section: {} for section in configs}
    for key, raw in settings.items():
        section, _, name = key.rpartition(".")
        sections = [section] if section else [s for s in configs if name in field_types(configs[s])]
        if section and section not in configs:
            raise GenlabError(f"unknown config section '{section}' in '{key}'; use one of: {', '.join(configs)}")
        if not sections or name not in field_types(configs[sections[0]]):
            valid = sorted({n for c in configs.values() for n in field_types(c)})
            raise GenlabError(f"unknown config key '{key}'; valid keys: {', '.join(valid)}")
        for s in sections[:1]:  # a name in both sections sets the model's field; 'train.NAME' reaches the other
            changes[s][name] = parse_value(raw, field_types(configs[s])[name], name)
    return {s: dataclasses.replace(c, **changes[s]) for s, c in configs.items()}


def read_config_file(path: str | Path) -> dict[str, object]:
    """A JSON or TOML file of settings: flat ``{"beta": 4}`` or sectioned ``{"model": {...}, "train": {...}}``."""
    path = Path(path)
    if not path.is_file():
        raise GenlabError(f"config file '{path}' not found; give the path of a .json or .toml file")
    text = path.read_text()
    try:
        if path.suffix == ".toml":
            import tomllib

            data = tomllib.loads(text)
        else:
            data = json.loads(text)
    except Exception as e:  # noqa: BLE001 - any parse error is the user's file
        raise GenlabError(
            f"config file '{path}' is not valid {path.suffix.lstrip('.') or 'JSON'}: {str(e).splitlines()[0]}"
        ) from None
    if not isinstance(data, dict):
        raise GenlabError(f"config file '{path}' must hold a mapping of key: value")
    flat: dict[str, object] = {}
    for k, v in data.items():
        if k == "recipe" and isinstance(v, dict):  # a recipe's description (genlab.recipes), not a setting
            continue
        if isinstance(v, dict) and k in ("model", "train"):
            flat.update({f"{k}.{kk}": vv for kk, vv in v.items()})
        else:
            flat[k] = v
    return flat


def to_jsonable(dc) -> dict:
    return json.loads(json.dumps(dataclasses.asdict(dc)))


def _json_value(raw, tp, key: str):
    """A config.json value checked against the field's type, strictly (no strings for numbers)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return None if raw is None else _json_value(raw, args[0], key)
    if origin is tuple and isinstance(raw, list):
        return tuple(_json_value(v, typing.get_args(tp)[0], key) for v in raw)
    ok = {
        bool: isinstance(raw, bool),
        int: isinstance(raw, int) and not isinstance(raw, bool),
        float: isinstance(raw, (int, float)) and not isinstance(raw, bool) and math.isfinite(raw),
        str: isinstance(raw, str),
    }.get(tp, False)
    if not ok:
        name = _type_name(tp)
        raise GenlabError(
            f"{key} must be {'an' if name[0] in 'aeiou' else 'a'} {name}, got {json.dumps(raw)[:40]}; "
            "restore the file or train again"
        )
    return float(raw) if tp is float else raw


def from_json(cls, values: dict, where: str):
    """The config dataclass ``cls`` from the JSON mapping ``values`` (a config.json section), every value checked."""
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise GenlabError(
            f"{where} has unknown key '{unknown[0]}' for {cls.__name__}; "
            "it was written by another genlab version or edited by hand"
        )
    values = {**getattr(cls, "WHEN_ABSENT", {}), **values}  # a key newer than the file: its old behaviour
    return cls(**{k: _json_value(v, hints[k], f"{where}: {k}") for k, v in values.items()})

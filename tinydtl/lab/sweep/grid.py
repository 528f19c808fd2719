"""The grid of a sweep and what it runs: targets, TOML grid files, validation, expansion, point keys.

A **target** is a lesson notebook (its parameters are the ``parameters`` cell, read by
``papermill.inspect_notebook``) or a function (its keyword parameters, read by ``inspect.signature``).
A grid is checked against the target before anything runs (:func:`validate_grid`); every problem is
a :class:`GridError` naming the parameter. :func:`tinydtl.lab.sweep.run_sweep` runs the points.

Every error a sweep raises before it runs anything is a :class:`SweepError` (``tinydtl sweep`` exits
2 on it); :class:`GridError` is the kind about the grid.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import inspect
import itertools
import json
import numbers
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

__all__ = [
    "SweepError",
    "GridError",
    "Parameter",
    "SweepTarget",
    "RESULT_COLUMNS",
    "load_grid",
    "resolve_target",
    "validate_grid",
    "expand_grid",
    "point_key",
]

#: Columns of the results table besides the point's parameters (a parameter may not use these names).
RESULT_COLUMNS = (
    "point", "status", "error", "quantity", "kind", "value", "claim_target", "op", "tolerance",
    "passed", "unit", "seconds",
)

_GRID_TABLES = ("grid", "fixed")


class SweepError(ValueError):
    """A sweep that cannot start: a bad grid, option or output folder. Nothing has run."""


class GridError(SweepError):
    """A grid that cannot run: unknown parameter, empty grid, wrong type, unreadable file."""


# ----------------------------------------------------------------------------- targets


_MISSING = inspect.Parameter.empty


@dataclass(frozen=True)
class Parameter:
    """One parameter of a target: its default (``inspect.Parameter.empty`` if required) and type."""

    name: str
    default: Any = _MISSING
    types: tuple | None = None  # accepted value types; None = not checked
    help: str = ""

    @property
    def required(self) -> bool:
        return self.default is _MISSING


@dataclass(frozen=True)
class SweepTarget:
    """What a sweep runs: a lesson notebook (``kind="lesson"``) or a function (``kind="function"``)."""

    kind: str
    name: str
    parameters: dict
    path: str | None = None
    function: Callable | None = None
    accepts_any: bool = False  # a function with **kwargs takes any name

    def describe(self) -> str:
        return f"lesson {self.name}" if self.kind == "lesson" else f"function {self.name}"


_TYPE_NAMES = {"bool": (bool,), "int": (int,), "float": (int, float), "str": (str,), "list": (list,),
               "dict": (dict,)}


def _types_of(default, annotation=None):
    """Accepted value types, from the default's type or else a simple annotation (``int | None``)."""
    if default is not _MISSING and default is not None:
        if isinstance(default, bool):
            return (bool,)
        if isinstance(default, numbers.Integral):
            return (int,)
        if isinstance(default, numbers.Real):
            return (int, float)
        if isinstance(default, str):
            return (str,)
        if isinstance(default, (list, tuple)):
            return (list,)
        if isinstance(default, dict):
            return (dict,)
        return None
    if annotation in (None, _MISSING):
        return None
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))
    text = text.replace("typing.", "").replace(" ", "")
    if text.startswith("Optional[") and text.endswith("]"):
        text = text[len("Optional["):-1]
    parts = [p for p in text.split("|") if p not in ("None", "NoneType")]
    if len(parts) == 1 and parts[0] in _TYPE_NAMES:
        return _TYPE_NAMES[parts[0]]
    return None


def _function_target(fn, name) -> SweepTarget:
    params, accepts_any = {}, False
    for p in inspect.signature(fn).parameters.values():
        if p.kind is p.VAR_KEYWORD:
            accepts_any = True
        elif p.kind is p.VAR_POSITIONAL or p.kind is p.POSITIONAL_ONLY:
            if p.default is _MISSING and p.kind is p.POSITIONAL_ONLY:
                raise GridError(f"function {name} has a required positional-only parameter {p.name!r}; "
                                "a sweep passes parameters by keyword")
        else:
            params[p.name] = Parameter(p.name, p.default, _types_of(p.default, p.annotation))
    return SweepTarget("function", name, params, function=fn, accepts_any=accepts_any)


def _notebook_target(path: Path) -> SweepTarget:
    import ast

    import papermill as pm

    try:
        found = pm.inspect_notebook(str(path))
    except Exception as exc:  # noqa: BLE001 - unreadable JSON, no kernelspec, ...
        raise GridError(f"cannot read the parameters of notebook {path}: {type(exc).__name__}: {exc}") from exc
    if not found:
        raise GridError(f"notebook {path.name} has no cell tagged 'parameters', so nothing can be swept")
    params = {}
    for name, info in found.items():
        try:
            default = ast.literal_eval(info["default"])
        except (ValueError, SyntaxError):
            default = None  # an expression: its type is not known before the run
        annotation = info.get("inferred_type_name")
        params[name] = Parameter(name, default, _types_of(default, annotation), info.get("help", ""))
    return SweepTarget("lesson", path.stem, params, path=str(path.resolve()))


def resolve_target(target, notebooks=None) -> SweepTarget:
    """The lesson or function ``target`` names, with its parameters.

    ``target`` is a callable, ``"module:function"``, a path to an ``.ipynb`` file, or a lesson name
    as ``tinydtl reproduce`` takes it (``"03"``, ``"federated_mnist"``) looked up in ``notebooks``.
    """
    if callable(target):
        name = f"{getattr(target, '__module__', '?')}:{getattr(target, '__qualname__', repr(target))}"
        return _function_target(target, name)
    if not isinstance(target, (str, os.PathLike)) or not str(target):
        raise GridError(f"target must be a lesson name, a notebook path or 'module:function', got {target!r}")
    text = str(target)
    if text.endswith(".ipynb") or os.sep in text:
        path = Path(text)
        if not path.is_file():
            raise GridError(f"notebook {path} does not exist")
        return _notebook_target(path)
    if ":" in text:
        module_name, _, attr = text.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise GridError(f"cannot import module {module_name!r} of target {text!r}: {exc}") from exc
        fn = module
        for part in attr.split("."):
            fn = getattr(fn, part, None)
        if not callable(fn):
            raise GridError(f"module {module_name} has no function {attr!r} (target {text!r})")
        return _function_target(fn, text)
    from tinydtl.lab.reproduce.lessons import select_notebooks

    try:
        paths = select_notebooks([text], notebooks)
    except (ValueError, FileNotFoundError) as exc:
        raise GridError(f"target {text!r}: {exc}; or name a function as 'module:function'") from exc
    if len(paths) != 1:
        raise GridError(f"target {text!r} matches several lessons: {', '.join(p.stem for p in paths)}")
    return _notebook_target(paths[0])


# ----------------------------------------------------------------------------- grids


def load_grid(path) -> tuple[dict, dict]:
    """Read a TOML grid file: ``([grid] table, [fixed] table)``. Only those two tables are allowed."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GridError(f"grid file {path} does not exist") from None
    except OSError as exc:  # a folder, no permission, ...
        raise GridError(f"cannot read grid file {path}: {exc}") from None
    except UnicodeDecodeError:
        raise GridError(f"grid file {path} is not a TOML text file (it is not UTF-8 text)") from None
    except tomllib.TOMLDecodeError as exc:
        raise GridError(f"grid file {path} is not valid TOML: {exc}") from None
    loose = sorted(k for k, v in data.items() if k not in _GRID_TABLES and not isinstance(v, dict))
    if loose:
        raise GridError(f"grid file {path}: {loose[0]!r} is outside [grid] and [fixed]; put swept parameters "
                        "under [grid] as lists, single values under [fixed]")
    extra = sorted(set(data) - set(_GRID_TABLES))
    if extra:
        raise GridError(
            f"grid file {path} may hold only the tables [grid] and [fixed], found {', '.join(extra)} "
            "(put swept parameters under [grid] as lists, single values under [fixed])"
        )
    if "grid" not in data:
        raise GridError(f"grid file {path} has no [grid] table (e.g. [grid] followed by SEED = [0, 1, 2])")
    for table in _GRID_TABLES:
        if table in data and not isinstance(data[table], dict):
            raise GridError(f"grid file {path}: {table} must be a table [{table}], got {data[table]!r}")
    return data["grid"], data.get("fixed", {})


def _check_value(target: SweepTarget, table: str, name: str, value):
    """Return ``value`` in its parameter's type (int -> float for float parameters), or raise GridError."""
    where = f"{table} parameter {name!r}"
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        raise GridError(f"{where}: value {value!r} cannot be stored as JSON (use numbers, strings, "
                        "booleans or lists of them; no dates, nan or inf)") from None
    spec = target.parameters.get(name)
    if spec is None or spec.types is None:
        return value
    is_bool = isinstance(value, bool)
    ok = isinstance(value, spec.types) and (bool in spec.types or not is_bool)
    if not ok:
        kind = " or ".join(t.__name__ for t in spec.types)
        default = "required" if spec.required else f"default {spec.default!r}"
        raise GridError(f"{where}: value {value!r} is a {type(value).__name__}, but {target.describe()} "
                        f"expects {kind} ({default})")
    if spec.types == (int, float):
        return float(value)
    return value


def validate_grid(target: SweepTarget, grid, fixed=None, *, reserved=()) -> tuple[dict, dict]:
    """Check ``grid`` and ``fixed`` against ``target``'s parameters; return them with values normalised.

    Raises :class:`GridError` naming the parameter: an empty grid, a grid entry that is not a
    non-empty list without repeats, a name the target does not have (with the closest names), a
    value of the wrong type, a name in both tables, a required function parameter left out, or a
    name in ``reserved`` (parameters the sweep sets itself) or :data:`RESULT_COLUMNS`.
    """
    fixed = {} if fixed is None else fixed
    if not isinstance(grid, dict) or not isinstance(fixed, dict):
        raise GridError("grid and fixed must map parameter names to values")
    if not grid:
        raise GridError("the grid is empty: [grid] must map at least one parameter to a list of values, "
                        "e.g. SEED = [0, 1, 2]")
    both = sorted(set(grid) & set(fixed))
    if both:
        raise GridError(f"parameter {both[0]!r} is in both [grid] and [fixed]; keep it in one")
    known = sorted(target.parameters)
    for table, names in (("grid", grid), ("fixed", fixed)):
        for name in names:
            if name in reserved:
                raise GridError(f"{table} parameter {name!r} is set by the sweep itself; remove it")
            if name in RESULT_COLUMNS:
                raise GridError(f"{table} parameter {name!r} clashes with a results column "
                                f"({', '.join(RESULT_COLUMNS)})")
            if name not in target.parameters and not target.accepts_any:
                close = difflib.get_close_matches(name, known, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise GridError(f"unknown {table} parameter {name!r} for {target.describe()}{hint} "
                                f"Its parameters are: {', '.join(known) or 'none'}")
    out_grid = {}
    for name, values in grid.items():
        if not isinstance(values, list):
            raise GridError(f"grid parameter {name!r} must be a list of values (e.g. {name} = [{values!r}]), "
                            f"got {values!r}; put single values under [fixed]")
        if not values:
            raise GridError(f"grid parameter {name!r} has no values: give at least one")
        normalised = [_check_value(target, "grid", name, v) for v in values]
        seen = [json.dumps(v, sort_keys=True) for v in normalised]
        if len(set(seen)) != len(seen):
            raise GridError(f"grid parameter {name!r} repeats a value: {values!r}")
        out_grid[name] = normalised
    out_fixed = {name: _check_value(target, "fixed", name, v) for name, v in fixed.items()}
    missing = [p.name for p in target.parameters.values()
               if p.required and p.name not in out_grid and p.name not in out_fixed]
    if missing:
        raise GridError(f"{target.describe()} needs parameter {missing[0]!r}: add it to [grid] or [fixed]")
    return out_grid, out_fixed


def expand_grid(grid: dict, fixed=None) -> list[dict]:
    """Every combination of the grid's values (in the grid's order; last name varies fastest), plus ``fixed``."""
    names = list(grid)
    return [{**(fixed or {}), **dict(zip(names, values))} for values in itertools.product(*grid.values())]


def point_key(target_name: str, parameters: dict) -> str:
    """A point's key: the first 16 hex digits of SHA-256 over stable JSON of target and parameters."""
    blob = json.dumps({"target": target_name, "parameters": parameters}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]

"""A workload's options as the command line gives them: `run --opt WORKLOAD.NAME=VALUE`
(repeatable), and the run's own flags (--gemm-size, --llm-preset, --threads ...), which are
aliases of the options of the same name. Each workload declares its options as a typed model
(base.Options: a field with its type, default and help); a plug-in workload does the same and
takes its options through --opt. NAME is the field's name, or the name without the workload's
prefix (gemm.size is gemm_size; llm.kv-span is llm_kv_span); VALUE is text, parsed as the field's
type says (comma lists, true/false, numbers)."""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import ValidationError

from benchhash.errors import InputError
from benchhash.workloads.base import Options, flag_error


@dataclass(frozen=True)
class Setting:
    """One --opt WORKLOAD.NAME=VALUE, as typed (checked against the workload when it is loaded)."""

    workload: str
    name: str
    value: str

    @classmethod
    def parse(cls, text: str) -> Setting:
        head, eq, value = text.partition("=")
        workload, dot, name = head.partition(".")
        if not eq or not dot or not workload.strip() or not name.strip():
            raise InputError(f"--opt {text!r} is not WORKLOAD.NAME=VALUE (e.g. gemm.size=4096)")
        return cls(workload.strip().lower(), name.strip(), value.strip())

    @property
    def text(self) -> str:
        return f"--opt {self.workload}.{self.name}={self.value}"


def parse_settings(texts: Sequence[str] | None) -> tuple[Setting, ...]:
    """Every --opt of the command line, each WORKLOAD.NAME=VALUE (else a one-line InputError)."""
    return tuple(Setting.parse(t) for t in texts or ())


def field_of(model: type[Options], workload: str, name: str) -> str | None:
    """The field an --opt NAME means: the name itself, or with the workload's prefix."""
    key = name.replace("-", "_").lower()
    return next((f for f in (key, f"{workload}_{key}") if f in model.model_fields), None)


def spelled(workload: str, field: str) -> str:
    """How --opt spells a field: gemm_size is gemm.size, threads is sha256d.threads."""
    return f"{workload}.{field.removeprefix(workload + '_')}"


def _kind(annotation: Any) -> str:
    """What text a field takes, in words, from its type."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin in (Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return _kind(inner[0]) if len(inner) == 1 else " or ".join(_kind(a) for a in inner)
    if origin is Literal:
        return "one of " + ", ".join(str(a) for a in args)
    if origin in (tuple, list):
        return {str: "name"}.get(args[0], _kind(args[0]).removeprefix("an ").removeprefix("a ")) + "s, comma-separated"
    if origin is typing.Annotated:
        return _kind(args[0])
    return {bool: "true or false", int: "an integer", float: "a number", str: "text"}.get(annotation, "a value")


def takes(model: type[Options], field: str) -> str:
    """A field's allowed values and help, for an error or a listing: 'an integer: M = N = K'."""
    info = model.model_fields[field]
    about = re.sub(r"^--[\w-]+:?\s*", "", (info.description or "").strip())   # "--gemm-size: M = N = K"
    return _kind(info.annotation) + (f": {about}" if about else "")


def describe(workload: str, model: type[Options]) -> list[dict[str, Any]]:
    """A workload's options as `benchhash info` lists them."""
    return [{"option": spelled(workload, f), "field": f, "takes": takes(model, f),
             "default": model.model_fields[f].default} for f in model.model_fields]


def _unknown(workload: str, model: type[Options], s: Setting) -> InputError:
    known = ", ".join(spelled(workload, f) for f in model.model_fields)
    return InputError(f"{s.text}: workload {workload} has no option {s.name!r}; "
                      + (f"its options: {known}" if known else "it takes none"))


def _given(flag_value: Any) -> bool:
    return flag_value is not None and flag_value is not False


def _values(workload: str, model: type[Options], flags: Mapping[str, Any],
            settings: Sequence[Setting]) -> tuple[dict[str, Any], dict[str, Setting]]:
    """The raw values of a workload's fields: its flags, then its --opt settings (a field given
    both ways, or twice with different values, is refused)."""
    values = {k: v for k, v in flags.items() if k in model.model_fields and v is not None}
    by_opt: dict[str, Setting] = {}
    for s in settings:
        field = field_of(model, workload, s.name)
        if field is None:
            raise _unknown(workload, model, s)
        if field in by_opt and by_opt[field].value != s.value:
            raise InputError(f"{s.text}: {spelled(workload, field)} is given twice ({by_opt[field].value!r} first)")
        if field not in by_opt and _given(flags.get(field)):
            raise InputError(f"{s.text}: give --{field.replace('_', '-')} or --opt {spelled(workload, field)}, "
                             "not both")
        by_opt[field] = s
        values[field] = s.value
    return values, by_opt


def options_for(workload: str, model: type[Options], flags: Mapping[str, Any],
                settings: Sequence[Setting] = ()) -> Options:
    """A workload's options from the command's flags (aliases: each field of the same name) and
    its --opt settings, validated; a bad one is one InputError line naming the workload, the
    option and what it takes."""
    values, by_opt = _values(workload, model, flags, settings)
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = str(err["loc"][0]) if err["loc"] else ""
        if field in by_opt:
            msg = str(err["msg"]).removeprefix("Value error, ")
            raise InputError(f"{by_opt[field].text}: {msg} (workload {workload}'s option "
                             f"{spelled(workload, field)} takes {takes(model, field)})") from None
        if not field and by_opt:     # a check of several fields together
            said = ", ".join(s.text for s in by_opt.values())
            raise InputError(f"{said}: {flag_error(exc)} (workload {workload})") from None
        raise flag_error(exc) from None

"""What every section of the settings tree shares: unknown names are refused, and a section can
take per-run overrides (the CLI's flags, a run's config) checked like the file."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from tts_assets.errors import InputFileError


class StrictSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    def with_overrides(self, **overrides):
        """A copy with the given values (None: keep), validated as the file's were."""
        given = {k: v for k, v in overrides.items() if v is not None}
        if not given:
            return self
        try:
            return type(self).model_validate({**self.model_dump(), **given})
        except ValueError as exc:
            raise InputFileError(f"{SECTIONS.get(type(self), type(self).__name__)} settings", one_line(exc)) from exc

    @classmethod
    def load(cls, path: str | Path | None, **overrides):
        """This section of the settings file at `path` (None: the defaults), with overrides."""
        from tts_assets.settings import Settings

        return getattr(Settings.load(path), SECTIONS[cls]).with_overrides(**overrides)


SECTIONS: dict[type, str] = {}  # section class → its name in the file, filled by `Settings`


def one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def describe_validation(error: ValidationError, model: type[BaseModel]) -> str:
    """Pydantic's errors as one line: an unknown name with the known ones, else where and what."""
    parts = []
    for item in error.errors():
        where = [str(part) for part in item["loc"]]
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            known = _known_names(model, where[:-1])
            kind = f"{where[-2]} setting" if len(where) > 1 else "section"
            parts.append(f"unknown {kind} {where[-1]!r} ({'.'.join(where)}: {message})"
                         + (f"; known: {', '.join(known)}" if known else ""))
        else:
            parts.append(f"{'.'.join(where)}: {message}" if where else message)
    return "; ".join(parts)


def _known_names(model: type[BaseModel], location: list[str]) -> list[str]:
    for name in location:
        field = model.model_fields.get(name)
        model = field.annotation if field else None
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return []
    return sorted(model.model_fields)

"""Reading one JSON object of a server's answer, field by field, with an error naming the field.

Every model of ``stacksafe.client.models`` is parsed through :class:`Fields`, so an answer that is
not what the API documents (another server, another version, a proxy's error page) fails with
``MalformedResponse: Account.created_at_iso: expected an ISO 8601 time, got int`` instead of a
``KeyError`` somewhere in the caller. Messages name the field and the JSON type found, never the
value: a malformed field may hold plaintext.

>>> Fields({"uid": "a1", "stack_count": 2}, "Account").text("uid")
'a1'
>>> try:
...     Fields({"uid": 7}, "Account").text("uid")
... except MalformedResponse as exc:
...     print(exc)
the server's answer is malformed: Account.uid: expected a string, got int
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from stacksafe.errors import ConfigurationError
from stacksafe.model import SecretValue

__all__ = ["Fields", "MalformedResponse", "array"]

_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


class MalformedResponse(ConfigurationError):
    """The server answered with JSON that is not what the API documents (a missing field, a
    wrong type): the address is not a stacksafe server of a compatible version."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"the server's answer is malformed: {where}: {problem}")
        self.where = where


def _kind(value: object) -> str:
    if value is None:
        return "null"
    return {dict: "object", list: "array", str: "string", bool: "boolean"}.get(
        type(value), type(value).__name__
    )


def array(value: object, name: str) -> list[object]:
    """``value`` as the array of items it must be."""
    if not isinstance(value, list):
        raise MalformedResponse(name, f"expected an array, got {_kind(value)}")
    return value


class Fields:
    """The fields of one JSON object, read as the types a model needs."""

    __slots__ = ("_data", "_name")

    def __init__(self, data: object, name: str) -> None:
        if not isinstance(data, Mapping):
            raise MalformedResponse(name, f"expected an object, got {_kind(data)}")
        self._data: Mapping[str, Any] = data
        self._name = name

    def _get(self, field: str) -> Any:
        try:
            return self._data[field]
        except KeyError:
            raise MalformedResponse(f"{self._name}.{field}", "missing") from None

    def _wrong(self, field: str, expected: str, value: object) -> MalformedResponse:
        return MalformedResponse(
            f"{self._name}.{field}", f"expected {expected}, got {_kind(value)}"
        )

    def raw(self, field: str) -> object:
        """The field as it is (a model's ``from_json`` reads it)."""
        return self._get(field)

    def has(self, field: str) -> bool:
        return field in self._data

    def text(self, field: str) -> str:
        value = self._get(field)
        if not isinstance(value, str):
            raise self._wrong(field, "a string", value)
        return value

    def text_or_none(self, field: str) -> str | None:
        return None if self._get(field) is None else self.text(field)

    def integer(self, field: str) -> int:
        value = self._get(field)
        if not isinstance(value, int) or isinstance(value, bool):
            raise self._wrong(field, "an integer", value)
        return value

    def integer_or_none(self, field: str) -> int | None:
        return None if self._get(field) is None else self.integer(field)

    def flag(self, field: str) -> bool:
        value = self._get(field)
        if not isinstance(value, bool):
            raise self._wrong(field, "a boolean", value)
        return value

    def flag_or_none(self, field: str) -> bool | None:
        return None if self._get(field) is None else self.flag(field)

    def moment(self, field: str) -> datetime:
        value = self._get(field)
        if isinstance(value, str):
            try:
                return datetime.strptime(value, _TIME_FORMAT).replace(tzinfo=UTC)
            except ValueError:
                pass
        raise self._wrong(field, "an ISO 8601 time like 2026-11-20T10:00:00Z", value)

    def moment_or_none(self, field: str) -> datetime | None:
        return None if self._get(field) is None else self.moment(field)

    def texts(self, field: str) -> tuple[str, ...]:
        value = self._get(field)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self._wrong(field, "an array of strings", value)
        return tuple(value)

    def texts_or_none(self, field: str) -> tuple[str, ...] | None:
        return None if self._get(field) is None else self.texts(field)

    def secret_or_none(self, field: str) -> SecretValue | None:
        text = self.text_or_none(field)
        return None if text is None else SecretValue(text)

    def mapping(self, field: str) -> dict[str, Any]:
        value = self._get(field)
        if not isinstance(value, dict):
            raise self._wrong(field, "an object", value)
        return dict(value)

    def objects(self, field: str) -> list[Fields]:
        """An array of objects, each read as ``Name.field[i]``."""
        value = self._get(field)
        if not isinstance(value, list):
            raise self._wrong(field, "an array", value)
        return [Fields(item, f"{self._name}.{field}[{i}]") for i, item in enumerate(value)]

    def nested(self, field: str) -> Fields:
        return Fields(self._get(field), f"{self._name}.{field}")

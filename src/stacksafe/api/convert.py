"""Core objects to response bodies, and the list envelope with Cloud66's pagination."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, TypeVar

import orjson
from fastapi import Query

from stacksafe.api.schemas import AccountOut, Pagination, SecretOut, StackOut
from stacksafe.model import Account, Secret, Stack, iso8601
from stacksafe.paging import MAX_PAGE, MAX_PER_PAGE, check_page, offset_of

__all__ = [
    "Page",
    "PerPage",
    "account_out",
    "page_of",
    "plain_time",
    "secret_json",
    "secret_out",
    "secrets_page_json",
    "stack_out",
]

T = TypeVar("T")
# The query parameters of every paged list, within stacksafe.paging's bounds.
Page = Annotated[int, Query(ge=1, le=MAX_PAGE)]
PerPage = Annotated[int, Query(ge=1, le=MAX_PER_PAGE)]


def plain_time(moment: datetime) -> str:
    """Cloud66's non-ISO twin: ``2014-08-14 00:38:14 UTC``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def secret_out(secret: Secret) -> SecretOut:
    return SecretOut(
        key=secret.key,
        value=secret.value,
        raw_value=None if secret.raw_value is None else secret.raw_value.reveal(),
        inherited=secret.inherited,
        created_at_iso=iso8601(secret.created_at),
        updated_at_iso=iso8601(secret.updated_at),
    )


def secrets_page_json(items: Sequence[Secret], pagination: Pagination) -> bytes:
    """A page of secrets as the JSON of ``SecretListEnvelope``, byte for byte.

    Built straight from the six fields, in SecretOut's order, and each key's ``meta``, and
    dumped by orjson (compact, UTF-8 unescaped, as pydantic dumps the model), which also writes
    the aware UTC timestamps in the specification's form: a revealed list holds up to 1000
    secrets, and building, validating and dumping a model per secret cost more than reading and
    decrypting them.
    tests/api pins the equality with the model's own JSON.
    """
    body = {
        "response": [_secret_fields(s) for s in items],
        "count": pagination.count,
        "pagination": pagination.model_dump(),
        # Beside the six fields, by key: what a watcher compares and where each key comes from.
        "meta": {s.key: s.meta_json() for s in items},
    }
    return orjson.dumps(body, option=_DUMPED)


def secret_json(secret: Secret) -> bytes:
    """One secret as the JSON of ``Envelope[SecretOut]``, byte for byte (the GET of a key,
    answered by api.fast_path), made as ``secrets_page_json`` makes each of a page's."""
    return orjson.dumps({"response": _secret_fields(secret)}, option=_DUMPED)


# Aware UTC timestamps in the specification's form (Z, whole seconds).
_DUMPED = orjson.OPT_UTC_Z | orjson.OPT_OMIT_MICROSECONDS


def _secret_fields(s: Secret) -> dict[str, object]:
    """SecretOut's six fields, in its order, for orjson."""
    return {
        "key": s.key,
        "value": s.value,
        "raw_value": None if s.raw_value is None else s.raw_value.reveal(),
        "inherited": s.inherited,
        "created_at_iso": _utc(s.created_at),
        "updated_at_iso": _utc(s.updated_at),
    }


def _utc(moment: datetime) -> datetime:
    # Stored moments read back tagged UTC; anything else is converted as iso8601 would.
    if moment.tzinfo is UTC:
        return moment
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def account_out(account: Account, stack_count: int) -> AccountOut:
    return AccountOut(
        id=account.uid,
        uid=account.uid,
        name=account.name,
        friendly_name=account.name,
        stack_count=stack_count,
        created_at=plain_time(account.created_at),
        updated_at=plain_time(account.updated_at),
        created_at_iso=iso8601(account.created_at),
        updated_at_iso=iso8601(account.updated_at),
    )


def stack_out(stack: Stack, account: Account) -> StackOut:
    return StackOut(
        uid=stack.uid,
        name=stack.name,
        account_id=account.uid,
        account_name=account.name,
        environment=stack.environment,
        created_at=plain_time(stack.created_at),
        updated_at=plain_time(stack.updated_at),
        created_at_iso=iso8601(stack.created_at),
        updated_at_iso=iso8601(stack.updated_at),
    )


def page_of(items: Sequence[T], page: int, per_page: int) -> tuple[list[T], Pagination]:
    check_page(page, per_page)
    total = len(items)
    pages = max(1, -(-total // per_page))
    start = offset_of(page, per_page)
    pagination = Pagination(
        previous=page - 1 if page > 1 else None,
        next=page + 1 if page < pages else None,
        current=page,
        per_page=per_page,
        count=total,
        pages=pages,
    )
    return list(items[start : start + per_page]), pagination

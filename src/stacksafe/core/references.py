"""References between secrets: ``${KEY}`` and ``${account.KEY}``, resolved when values are read.

``${KEY}`` is KEY in the effective set being read (for a stack: after its overrides, so a stack's
own value wins over the account's, in the stack being resolved); ``${account.KEY}`` is the
account's own KEY, if the stack's environment inherits it. ``$${`` stands for a literal ``${``.
Any other ``$`` is literal text. A chain of references may be 10 deep; a cycle or a reference to
a key that does not exist is an error that names it: a read isolates it to the keys it breaks
(``Resolved.broken``), and a write that would create one is refused (``broken_after_write``).
``escape_literal`` stores a text so that it resolves to exactly itself.

Expansion is bounded (``Limits``): a few small values that reference each other many times
expand exponentially, so sizes are computed first, from lengths alone (memoised per value),
and a value is built only once its size is known to be within the bounds. Memory never grows
beyond what the bounds allow, however the references are arranged.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field

from stacksafe.errors import Conflict, ExpansionTooLarge

__all__ = [
    "MAX_DEPTH",
    "Limits",
    "Resolved",
    "broken_after_write",
    "escape_literal",
    "has_references",
    "oversized_after_write",
    "resolve_all",
]

MAX_DEPTH = 10
ACCOUNT_PREFIX = "account."
# What one reference name recorded for the audit event costs against the read bound, besides
# its length: about what a set of names holds per entry (hash, pointer, free slots).
NAME_COST = 32
# A reference, or the escape for a literal "${".
_TOKEN = re.compile(r"\$\$\{|\$\{((?:account\.)?[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*)\}")


def has_references(text: str) -> bool:
    """Whether ``text`` needs resolving at all (most values do not: a cheap test first)."""
    return "${" in text


def escape_literal(text: str) -> str:
    """``text`` as stored so that it resolves to exactly ``text``: every ``${`` written
    ``$${``. (A run of n ``$`` before ``{`` becomes n + 1, whose last two are the escape, so
    nothing in the result is read as a reference.)"""
    return text.replace("${", "$${")


@dataclass(frozen=True, slots=True)
class Limits:
    """How far expansion may go: bytes of one resolved value (``value_bytes``), and bytes of
    resolved values one read may build in all (``read_bytes``)."""

    value_bytes: int
    read_bytes: int


@dataclass
class Resolved:
    """Resolved values by key, and which references each key used (for the audit event)."""

    values: dict[str, str] = field(repr=False)  # plaintext: never in a repr or a traceback
    used: dict[str, list[str]] = field(default_factory=dict)
    # Keys whose references cannot be resolved (missing target, cycle, too deep): the error
    # naming the reference, by key. Such a key has no entry in ``values``.
    broken: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Parsed:
    """A value's text cut at its references: its literal length (each escape counts as the two
    characters it stands for) and the labels it references, once per occurrence."""

    literal: int
    targets: tuple[str, ...]


def _parse(text: str, names: dict[str, str]) -> _Parsed:
    """``text`` cut at its references; each name is the one string ``names`` holds for it
    (a value naming the same key thousands of times holds one string, not thousands)."""
    literal = len(text)
    targets = []
    for match in _TOKEN.finditer(text):
        target = match.group(1)
        literal -= len(match.group(0))
        if target is None:
            literal += 2  # "$${" stands for "${"
        else:
            targets.append(names.setdefault(target, target))
    return _Parsed(literal, tuple(targets))


def _byte_length(text: str) -> int:
    return len(text.encode("utf-8"))


class _Texts:
    """The texts references may name, by label: ``KEY`` in ``own``, ``account.KEY`` in the
    account's values (fetched only when first named), whose own ``${KEY}`` mean the account's."""

    def __init__(
        self, own: Mapping[str, str], account: Callable[[], Mapping[str, str]], where: str
    ) -> None:
        self.own = own
        self._account = account
        self._account_values: Mapping[str, str] | None = None
        self.where = where
        self._texts: dict[str, str] = {}
        self._parsed: dict[str, _Parsed] = {}
        self._names: dict[str, str] = {}

    def text(self, label: str) -> str:
        found = self._texts.get(label)
        if found is not None:
            return found
        if label.startswith(ACCOUNT_PREFIX):
            if self._account_values is None:
                self._account_values = self._account()
            key = label[len(ACCOUNT_PREFIX) :]
            if key not in self._account_values:
                raise Conflict(f"${{{label}}} does not exist: no account secret {key!r} here")
            found = _as_account_references(self._account_values[key])
        else:
            if label not in self.own:
                raise Conflict(f"${{{label}}} does not exist in {self.where}")
            found = self.own[label]
        self._texts[label] = found
        return found

    def parsed(self, label: str) -> _Parsed:
        found = self._parsed.get(label)
        if found is None:
            text = self.text(label)
            # Sizes count UTF-8 bytes (what the limits are in); the literal part of the text
            # is its bytes minus those of its references (ASCII: one byte per character).
            cut = _parse(text, self._names)
            found = _Parsed(cut.literal + _byte_length(text) - len(text), cut.targets)
            self._parsed[label] = found
        return found


class _Sizes:
    """Expanded sizes in bytes by label, computed from lengths alone and memoised, with the
    errors resolving would meet (cycle, missing target, depth) raised exactly as resolving
    would raise them. Sizes are capped at ``cap`` (anything above is simply too big).

    Each label's set of the labels it reaches (for the audit event) is kept too; those sets
    are what a read builds besides values, so their entries count towards ``budget``
    (``NAME_COST`` plus the name's length each; ``on_over`` raises once it is spent): a wide
    web of references between small values cannot make them grow without bound either."""

    def __init__(
        self, texts: _Texts, cap: int, budget: int | None, on_over: Callable[[], None]
    ) -> None:
        self.texts = texts
        self.cap = cap
        self.budget = budget
        self.on_over = on_over
        self.spent = 0  # bytes of reference names recorded (as the audit event lists them)
        # label -> (size, the longest chain it was checked at, every label it reaches)
        self._done: dict[str, tuple[int, int, frozenset[str]]] = {}

    def size(self, chain: list[str]) -> tuple[int, frozenset[str]]:
        """The expanded size of ``chain[-1]`` (reached through ``chain``), and the labels its
        expansion follows."""
        label = chain[-1]
        done = self._done.get(label)
        if done is not None and len(chain) <= done[1]:
            return done[0], done[2]
        parsed = self.texts.parsed(label)
        total = parsed.literal
        below: dict[str, frozenset[str]] = {}  # by distinct target, in order
        for target in parsed.targets:
            if len(chain) > MAX_DEPTH:  # following this one would be reference MAX_DEPTH + 1
                raise Conflict(
                    f"references nest deeper than {MAX_DEPTH} in {self.texts.where}: "
                    f"{' -> '.join([*chain, target])}"
                )
            if target in chain:
                cycle = [*chain[chain.index(target) :], target]
                raise Conflict(f"reference cycle in {self.texts.where}: {' -> '.join(cycle)}")
            size, below[target] = self.size([*chain, target])
            total = min(self.cap, total + size)
        reached = frozenset(below).union(*below.values())
        if self.budget is not None and reached and (done is None or done[2] != reached):
            self.spent += sum(NAME_COST + len(name) for name in reached)
            if self.spent > self.budget:
                self.on_over()
        self._done[label] = (total, len(chain), reached)
        return total, reached


def resolve_all(
    own: Mapping[str, str],
    account: Callable[[], Mapping[str, str]],
    where: str,
    only: Collection[str] | None = None,
    limits: Limits | None = None,
) -> Resolved:
    """Resolve the values of ``own`` (the effective set being read): all, or the keys ``only``
    (and whatever they reference, nothing else).

    A key whose references are broken (a missing target, a cycle, a chain deeper than
    ``MAX_DEPTH``) is isolated: it goes into ``broken`` with the error naming the reference,
    and every other key still resolves.

    ``account`` gives the account's own values that this set may see; it is called only if a
    value being resolved names ``${account.KEY}``. ``where`` names the set in error messages.
    With ``limits``, a key whose value would expand beyond ``value_bytes``, or a read that
    would build more than ``read_bytes`` of resolved values, is ``ExpansionTooLarge`` naming
    the key, raised before anything is built.
    """
    keys = list(own if only is None else only)
    texts = _Texts(own, account, where)
    cap = 1 + (max(limits.value_bytes, limits.read_bytes) if limits else 1 << 62)
    reading = ""  # the key being sized, for the error

    def over_read_bound() -> None:
        assert limits is not None  # noqa: S101 - only called with limits
        raise ExpansionTooLarge(
            f"resolving {where} up to {reading!r} builds more than {limits.read_bytes} bytes "
            "of values and the references they follow (the limit for one read); read fewer "
            "keys at once, or with references unresolved"
        )

    sizes = _Sizes(texts, cap, limits.read_bytes if limits else None, over_read_bound)
    reaches: dict[str, frozenset[str]] = {}
    built: set[str] = set()  # the labels a value is built for (those holding references)
    built_bytes = 0
    broken: dict[str, str] = {}
    for key in keys:
        if not has_references(texts.text(key)):
            continue
        reading = key
        try:
            size, reaches[key] = sizes.size([key])
        except Conflict as exc:
            broken[key] = exc.message
            continue
        if limits is None:
            continue
        if size > limits.value_bytes:
            raise ExpansionTooLarge(
                f"{key!r} in {where} expands to more than {limits.value_bytes} bytes through "
                "its references (the limit for one value); read it with references unresolved "
                "and shorten what it references"
            )
        for label in (key, *reaches[key]):
            if label not in built and has_references(texts.text(label)):
                built.add(label)
                built_bytes += sizes.size([label])[0]
        if built_bytes + sizes.spent > limits.read_bytes:
            over_read_bound()
    # Every size is now known to be within the bounds: build each value once.
    made: dict[str, str] = {}

    def build(label: str) -> str:
        found = made.get(label)
        if found is not None:
            return found
        text = texts.text(label)

        def substitute(match: re.Match[str]) -> str:
            target = match.group(1)
            return "${" if target is None else build(target)

        found = _TOKEN.sub(substitute, text) if has_references(text) else text
        made[label] = found
        return found

    resolved = {key: build(key) for key in keys if key not in broken}
    used = {key: sorted(reached) for key, reached in reaches.items() if reached}
    return Resolved(resolved, used, broken)


def oversized_after_write(
    own: Mapping[str, str],
    account: Mapping[str, str],
    changed: Iterable[str],
    value_bytes: int,
) -> str | None:
    """The first key of ``own`` (an effective set as a write leaves it) that uses a label in
    ``changed`` (``KEY``, or ``account.KEY``), directly or through other references, and
    would expand beyond ``value_bytes``; None when there is none.

    Unlike ``resolve_all`` this never fails on a cycle, a missing target or depth (a write
    may leave those, and reads report them): such a reference counts as nothing, so a size
    found here is never more than a read would find. Iterative, so a long chain of keys
    cannot exhaust the stack.
    """
    texts: dict[str, str] = dict(own)
    texts.update({ACCOUNT_PREFIX + k: _as_account_references(v) for k, v in account.items()})
    names: dict[str, str] = {}
    parsed = {label: _parse(text, names) for label, text in texts.items()}
    literal = {
        label: p.literal + _byte_length(texts[label]) - len(texts[label])
        for label, p in parsed.items()
    }
    users: dict[str, set[str]] = {}
    for label, p in parsed.items():
        for target in p.targets:
            users.setdefault(target, set()).add(label)
    # Every label whose expansion reaches a changed one.
    affected: set[str] = set()
    pending = [label for label in changed if label in texts]
    while pending:
        label = pending.pop()
        if label not in affected:
            affected.add(label)
            pending.extend(users.get(label, ()))
    cap = value_bytes + 1
    sizes: dict[str, int] = {}
    for root in sorted(k for k in own if k in affected):
        _size_iteratively(root, parsed, literal, sizes, cap)
        if sizes[root] > value_bytes:
            return root
    return None


def broken_after_write(
    own: Mapping[str, str], account: Mapping[str, str], written: Iterable[str], where: str
) -> str | None:
    """The error a read would meet resolving a label in ``written`` (``KEY`` of ``own``, the
    effective set as a write leaves it, or ``account.KEY``): a missing target or a cycle,
    named with the key; None when there is none. (Depth is left to reads, which isolate a
    chain too deep: the size bound already refuses what deep chains make dangerous.)
    Iterative, so a long chain of keys cannot exhaust the stack; each label is followed once."""
    texts: dict[str, str] = dict(own)
    texts.update({ACCOUNT_PREFIX + k: _as_account_references(v) for k, v in account.items()})
    names: dict[str, str] = {}
    done: set[str] = set()  # labels whose every reference, all the way down, resolves
    written = list(written)
    mine = set(written)
    for root in written:
        if root not in texts or root in done:
            continue
        path = [root]
        stack = [iter(dict.fromkeys(_parse(texts[root], names).targets))]
        while stack:
            for target in stack[-1]:
                if target in done:
                    continue
                if target not in texts:
                    # Named from the last written key on the way: that is what to mend.
                    last = max(i for i, label in enumerate(path) if label in mine or i == 0)
                    return _missing(path[last:], target, where)
                if target in path:
                    cycle = " -> ".join([*path[path.index(target) :], target])
                    return f"{path[0]!r} in {where} would close a reference cycle: {cycle}"
                path.append(target)
                stack.append(iter(dict.fromkeys(_parse(texts[target], names).targets)))
                break
            else:
                stack.pop()
                done.add(path.pop())
    return None


def _missing(path: list[str], target: str, where: str) -> str:
    through = "" if len(path) == 1 else f" (through {' -> '.join(path)})"
    if target.startswith(ACCOUNT_PREFIX):
        return (
            f"{path[0]!r} in {where} references ${{{target}}}{through}, but the account has "
            f"no secret {target[len(ACCOUNT_PREFIX) :]!r} that {where} inherits"
        )
    return (
        f"{path[0]!r} in {where} references ${{{target}}}{through}, which does not exist there "
        "(for a literal ${, write $${)"
    )


def _size_iteratively(
    root: str,
    parsed: Mapping[str, _Parsed],
    literal: Mapping[str, int],
    sizes: dict[str, int],
    cap: int,
) -> None:
    """Expanded sizes (capped at ``cap``) of ``root`` and what it reaches, into ``sizes``; a
    reference that is missing or closes a cycle counts as nothing."""
    if root in sizes:
        return
    open_labels = {root}
    stack = [(root, iter(parsed[root].targets))]
    while stack:
        label, targets = stack[-1]
        for target in targets:
            if target in parsed and target not in sizes and target not in open_labels:
                open_labels.add(target)
                stack.append((target, iter(parsed[target].targets)))
                break
        else:
            stack.pop()
            open_labels.discard(label)
            total = literal[label]
            for target in parsed[label].targets:
                total = min(cap, total + sizes.get(target, 0))
            sizes[label] = total


def _as_account_references(text: str) -> str:
    """Inside an account value, ``${KEY}`` names the account's KEY: make that explicit."""

    def qualify(match: re.Match[str]) -> str:
        target = match.group(1)
        if target is None or target.startswith(ACCOUNT_PREFIX):
            return match.group(0)
        return "${" + ACCOUNT_PREFIX + target + "}"

    return _TOKEN.sub(qualify, text)

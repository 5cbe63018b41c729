"""Value sealing cost: ``DataKey.seal`` + ``ScopeKeys.open`` against raw AES-GCM in the same run.

Three implementations of one round trip (seal a value, then open it) are timed, interleaved
within every round so they share the machine's momentary speed:

* **stacksafe**: ``DataKey.seal(value, binding)`` then ``ScopeKeys.open(blob, key, version)``,
  i.e. what ``set_secret`` and a reveal do per value (a reveal opens every value through its
  scope's ``ScopeKeys``), including the envelope header, the framed associated data of a
  realistic binding and the envelope's checks and parsing.
* **floor**: one ``AESGCM`` object built once and reused; per round trip a fresh random nonce,
  ``encrypt`` and ``decrypt`` with the same associated-data bytes precomputed. Nothing cheaper
  can provide the same security, so ``stacksafe / floor`` is the overhead ratio (target >= 0.5).
* **per-op AESGCM**: the same, but ``AESGCM(key)`` is built for the encrypt and again for the
  decrypt, which is what the per-scope data-key cache avoids.

An "open only" case repeats the comparison for the reveal path (decrypt only).

Run: ``.venv/bin/python bench/crypto_bench.py`` (about 15 s). Ratios are medians of per-round
ratios; absolute ops/s are medians too but drift on a shared machine, so read the ratios.
"""

from __future__ import annotations

import gc
import os
import secrets
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from stacksafe.crypto import Binding, DataKey, Envelope, Scope, ScopeKeys
from stacksafe.crypto.format import NONCE_SIZE

sys.path.insert(0, str(Path(__file__).parent))
from results import emit

SIZES = {"64 B": 64, "4 KiB": 4096}
ROUNDS = 15
# Target wall time of one timed batch; batch sizes are calibrated to it.
BATCH_SECONDS = 0.08
TARGET_RATIO = 0.5

Op = Callable[[], object]


@dataclass(frozen=True)
class Result:
    case: str
    stacksafe_ops: float
    baseline: str
    baseline_ops: float
    ratio: float


def _time_batch(op: Op, n: int) -> float:
    """Seconds for ``n`` calls of ``op``, garbage collection off (as ``timeit`` does)."""
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter()
        for _ in range(n):
            op()
        return time.perf_counter() - start
    finally:
        if gc_was_enabled:
            gc.enable()


def _calibrate(op: Op) -> int:
    """How many calls of ``op`` take about ``BATCH_SECONDS``."""
    n = 64
    while True:
        elapsed = _time_batch(op, n)
        if elapsed >= BATCH_SECONDS / 4:
            return max(64, int(n * BATCH_SECONDS / elapsed))
        n *= 4


def _measure(ops: dict[str, Op]) -> dict[str, list[float]]:
    """ops/s of each op for every round; the ops run interleaved (rotating order) per round."""
    sizes = {name: _calibrate(op) for name, op in ops.items()}
    names = list(ops)
    rates: dict[str, list[float]] = {name: [] for name in names}
    for round_no in range(ROUNDS):
        order = names[round_no % len(names) :] + names[: round_no % len(names)]
        for name in order:
            n = sizes[name]
            rates[name].append(n / _time_batch(ops[name], n))
    return rates


def _realistic_binding() -> Binding:
    scope = Scope(account_uid=secrets.token_hex(16), stack_uid=secrets.token_hex(16))
    return Binding(scope, key="PAYMENTS_PROVIDER_API_KEY", version=7)


def _round_trip_ops(value: bytes) -> dict[str, Op]:
    material = AESGCM.generate_key(bit_length=256)
    binding = _realistic_binding()
    data_key = DataKey(3, material)
    aad = binding.aad(Envelope.header_for(3))
    aead = AESGCM(material)

    keys = ScopeKeys(binding.scope, [data_key])

    def stacksafe_op() -> object:
        blob = data_key.seal(value, binding)
        return keys.open(blob, binding.key, binding.version)

    def floor_op() -> object:
        nonce = os.urandom(NONCE_SIZE)
        return aead.decrypt(nonce, aead.encrypt(nonce, value, aad), aad)

    def per_op_aesgcm() -> object:
        nonce = os.urandom(NONCE_SIZE)
        sealed = AESGCM(material).encrypt(nonce, value, aad)
        return AESGCM(material).decrypt(nonce, sealed, aad)

    assert stacksafe_op() == floor_op() == per_op_aesgcm() == value
    return {"stacksafe": stacksafe_op, "floor": floor_op, "per-op": per_op_aesgcm}


def _open_only_ops(value: bytes) -> dict[str, Op]:
    material = AESGCM.generate_key(bit_length=256)
    binding = _realistic_binding()
    data_key = DataKey(3, material)
    blob = data_key.seal(value, binding)
    envelope = Envelope.from_bytes(blob)
    aad = binding.aad(envelope.header)
    aead = AESGCM(material)
    nonce, ciphertext = envelope.nonce, envelope.ciphertext

    keys = ScopeKeys(binding.scope, [data_key])

    def stacksafe_op() -> object:
        return keys.open(blob, binding.key, binding.version)

    def floor_op() -> object:
        return aead.decrypt(nonce, ciphertext, aad)

    def per_op_aesgcm() -> object:
        return AESGCM(material).decrypt(nonce, ciphertext, aad)

    assert stacksafe_op() == floor_op() == per_op_aesgcm() == value
    return {"stacksafe": stacksafe_op, "floor": floor_op, "per-op": per_op_aesgcm}


def _results(case: str, rates: dict[str, list[float]]) -> list[Result]:
    ours = rates["stacksafe"]
    out = []
    for key, label in (("floor", "floor: one AESGCM reused"), ("per-op", "AESGCM built per op")):
        theirs = rates[key]
        ratio = statistics.median(a / b for a, b in zip(ours, theirs, strict=True))
        out.append(Result(case, statistics.median(ours), label, statistics.median(theirs), ratio))
    return out


def main() -> None:
    started = time.perf_counter()
    results: list[Result] = []
    for label, size in SIZES.items():
        value = os.urandom(size)
        results += _results(f"{label} seal+open", _measure(_round_trip_ops(value)))
        results += _results(f"{label} open only", _measure(_open_only_ops(value)))

    print(f"# stacksafe value crypto vs raw AES-GCM ({ROUNDS} rounds, median)\n")
    print("| case | stacksafe ops/s | raw ops/s | ratio | raw baseline |")
    print("|---|---:|---:|---:|---|")
    for r in results:
        print(
            f"| {r.case} | {r.stacksafe_ops:,.0f} | {r.baseline_ops:,.0f} | "
            f"{r.ratio:.2f} | {r.baseline} |"
        )
    print()
    floor = [r for r in results if r.baseline.startswith("floor") and "seal+open" in r.case]
    failing = [r.case for r in floor if r.ratio < TARGET_RATIO]
    verdict = "FAIL: " + ", ".join(failing) if failing else "PASS"
    print(
        f"ratio = stacksafe ops/s / raw ops/s, median of per-round ratios; "
        f"target >= {TARGET_RATIO} vs the floor (seal+open): {verdict}"
    )
    print(f"total {time.perf_counter() - started:.1f} s")
    for r in floor:
        emit(
            f"crypto: {r.case} per value",
            measured=f"{r.stacksafe_ops:,.0f} ops/s",
            baseline=f"raw AES-GCM {r.baseline_ops:,.0f} ops/s",
            ratio=r.ratio,
            target=f">= {TARGET_RATIO}",
            passed=r.ratio >= TARGET_RATIO,
        )


if __name__ == "__main__":
    main()

"""`run --only/--prefix`, and `run --mask` / `run --watch`, where stacksafe stays the parent."""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.cli.helpers import Cli, InProcessCli, error_line

PYTHON = sys.executable
WEB = ("--stack", "web")
PRINT_ENV = "import json, os, sys; print(json.dumps({k: os.getenv(k) for k in sys.argv[1:]}))"

# Writes the secret in two pieces with a pause between (two reads for the masker), then bytes
# that are not UTF-8, then the value again at the very end without a newline.
LEAKY = """
import os, sys, time
value = os.environ["DB_PASSWORD"].encode()
os.write(1, b"connecting with " + value[:5])
time.sleep(0.05)
os.write(1, value[5:] + b" ok\\n\\xff\\xfe binary ")
os.write(2, b"error: bad password " + value + b"\\n")
os.write(1, value)
sys.exit(3)
"""

# Appends "start <TOKEN>" when it starts and "stop <TOKEN>" on SIGTERM, then exits 0.
SERVICE = """
import os, pathlib, signal, sys
log = pathlib.Path(sys.argv[1])
def note(text):
    with log.open("a") as f:
        f.write(text + "\\n")
def on_term(signum, frame):
    note("stop " + os.environ["TOKEN"])
    sys.exit(0)
signal.signal(signal.SIGTERM, on_term)
note("start " + os.environ["TOKEN"])
while True:
    signal.pause()
"""


def test_only_and_prefix(seeded: Cli, cli_runner: InProcessCli) -> None:
    for assignment in ("A=alpha", "B=beta", "C=gamma"):
        cli_runner.ok("secrets", "set", assignment, *WEB)
    done = seeded.ok(
        "run",
        *WEB,
        "--only",
        "A,C",
        "--prefix",
        "APP_",
        "--",
        PYTHON,
        "-c",
        PRINT_ENV,
        "APP_A",
        "APP_B",
        "APP_C",
        "A",
    )
    assert json.loads(done.stdout) == {"APP_A": "alpha", "APP_B": None, "APP_C": "gamma", "A": None}
    missing = seeded.fails(2, "run", *WEB, "--only", "A,NOPE", "--", PYTHON, "-c", "pass")
    assert "--only names keys the stack does not have: NOPE" in error_line(missing.stderr)
    bad = seeded.fails(2, "run", *WEB, "--prefix", "1X", "--", PYTHON, "-c", "pass")
    assert "cannot start a variable name" in error_line(bad.stderr)


def test_mask_hides_values_split_across_writes_and_in_binary_output(
    seeded: Cli, cli_runner: InProcessCli
) -> None:
    cli_runner.ok("secrets", "set", "DB_PASSWORD=s3cr3t-pa55word", *WEB)
    done = subprocess.run(
        seeded.argv("run", *WEB, "--mask", "--", PYTHON, "-c", LEAKY),
        env=seeded.env(),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 3  # the command's status passes through
    assert done.stdout == (
        b"connecting with [stacksafe:DB_PASSWORD] ok\n\xff\xfe binary [stacksafe:DB_PASSWORD]"
    )
    assert done.stderr == b"error: bad password [stacksafe:DB_PASSWORD]\n"
    unmasked = subprocess.run(
        seeded.argv("run", *WEB, "--", PYTHON, "-c", LEAKY),
        env=seeded.env(),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert b"s3cr3t-pa55word" in unmasked.stdout  # the control: without --mask it leaks


def _wait_for(log: Path, lines: list[str], proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # a bounded wait for a condition
        if log.exists() and log.read_text().splitlines() == lines:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    raise AssertionError(f"{log.read_text() if log.exists() else ''!r} never became {lines!r}")


def test_watch_restarts_the_command_when_secrets_change_and_forwards_signals(
    seeded: Cli, cli_runner: InProcessCli, tmp_path: Path
) -> None:
    cli_runner.ok("secrets", "set", "TOKEN=v1", *WEB)
    log = tmp_path / "service.log"
    argv = seeded.argv(
        "run",
        *WEB,
        "--watch",
        "--interval",
        "0.1",
        "--grace",
        "5",
        "--",
        PYTHON,
        "-c",
        SERVICE,
        str(log),
    )
    proc = subprocess.Popen(argv, env=seeded.env(), stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(log, ["start v1"], proc)
        cli_runner.ok("secrets", "set", "TOKEN=v2", *WEB)
        _wait_for(log, ["start v1", "stop v1", "start v2"], proc)
        proc.send_signal(signal.SIGTERM)  # to stacksafe: forwarded to the command
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert log.read_text().splitlines() == ["start v1", "stop v1", "start v2", "stop v2"]
    assert proc.returncode == 0  # the command's own exit status after the forwarded SIGTERM
    assert stderr == "stacksafe: secrets changed; the command was restarted\n"


# Ignores SIGTERM: only SIGKILL ends it. Appends "start <TOKEN>" when it starts.
STUBBORN = """
import os, pathlib, signal, sys
signal.signal(signal.SIGTERM, signal.SIG_IGN)
with pathlib.Path(sys.argv[1]).open("a") as f:
    f.write("start " + os.environ["TOKEN"] + "\\n")
while True:
    signal.pause()
"""


def test_watch_kills_a_command_that_ignores_sigterm_after_the_grace_period(
    seeded: Cli, cli_runner: InProcessCli, tmp_path: Path
) -> None:
    cli_runner.ok("secrets", "set", "TOKEN=v1", *WEB)
    log = tmp_path / "stubborn.log"
    argv = seeded.argv(
        "run",
        *WEB,
        "--watch",
        "--interval",
        "0.1",
        "--grace",
        "0.2",
        "--",
        PYTHON,
        "-c",
        STUBBORN,
        str(log),
    )
    proc = subprocess.Popen(argv, env=seeded.env(), stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(log, ["start v1"], proc)
        cli_runner.ok("secrets", "set", "TOKEN=v2", *WEB)
        _wait_for(log, ["start v1", "start v2"], proc)  # the first one was killed
        proc.send_signal(signal.SIGINT)  # forwarded to the command, which SIGINT does end
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 128 + signal.SIGINT  # the command died of the forwarded signal


def test_mask_ends_when_the_reader_goes_away_and_does_not_wait_for_grandchildren(
    seeded: Cli, cli_runner: InProcessCli
) -> None:
    cli_runner.ok("secrets", "set", "DB_PASSWORD=s3cr3t-pa55word", *WEB)
    endless = 'while true; do echo "$DB_PASSWORD"; done'  # dies of SIGPIPE, quietly
    producer = subprocess.Popen(
        seeded.argv("run", *WEB, "--mask", "--", "sh", "-c", endless),
        env=seeded.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert producer.stdout is not None
    head = subprocess.run(["head", "-2"], stdin=producer.stdout, capture_output=True, timeout=60)
    producer.stdout.close()  # head has it now; when head exits, the pipe's reader is gone
    _, producer_stderr = producer.communicate(timeout=60)
    piped = subprocess.CompletedProcess(head.args, head.returncode, head.stdout, producer_stderr)
    assert piped.stdout == b"[stacksafe:DB_PASSWORD]\n" * 2
    assert piped.stderr == b""  # no traceback from stacksafe's pumps
    started = time.monotonic()
    quick = subprocess.run(
        seeded.argv("run", *WEB, "--mask", "--", "sh", "-c", "sleep 60 & echo started"),
        env=seeded.env(),
        capture_output=True,
        timeout=60,
    )
    assert quick.stdout == b"started\n"
    assert time.monotonic() - started < 30  # not held until the grandchild's sleep 60 ends


def test_reload_signals_are_forwarded_and_watching_goes_on(
    seeded: Cli, cli_runner: InProcessCli, tmp_path: Path
) -> None:
    cli_runner.ok("secrets", "set", "TOKEN=v1", *WEB)
    log = tmp_path / "service.log"
    service = SERVICE.replace(
        "signal.signal(signal.SIGTERM, on_term)",
        "signal.signal(signal.SIGTERM, on_term)\n"
        "signal.signal(signal.SIGUSR1, lambda s, f: note('usr1 ' + os.environ['TOKEN']))",
    )
    argv = seeded.argv(
        "run", *WEB, "--watch", "--interval", "0.1", "--", PYTHON, "-c", service, str(log)
    )
    proc = subprocess.Popen(argv, env=seeded.env(), stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(log, ["start v1"], proc)
        proc.send_signal(signal.SIGUSR1)
        _wait_for(log, ["start v1", "usr1 v1"], proc)
        cli_runner.ok("secrets", "set", "TOKEN=v2", *WEB)
        _wait_for(log, ["start v1", "usr1 v1", "stop v1", "start v2"], proc)
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0


def test_the_command_gets_default_sigpipe_handling(seeded: Cli) -> None:
    ignored = seeded.ok("run", *WEB, "--", "sh", "-c", "grep SigIgn /proc/self/status").stdout
    mask = int(ignored.split()[1], 16)
    assert not mask & (1 << (signal.SIGPIPE - 1)), ignored


def test_watch_and_mask_together_mask_each_generation_with_its_own_values(
    seeded: Cli, cli_runner: InProcessCli
) -> None:
    cli_runner.ok("secrets", "set", "TOKEN=first-token-value", *WEB)
    speaker = (
        "import os, signal, sys\n"
        "print('token is ' + os.environ['TOKEN'], flush=True)\n"
        "signal.signal(signal.SIGTERM, lambda s, f: sys.exit(0))\n"
        "while True: signal.pause()\n"
    )
    argv = seeded.argv(
        "run", *WEB, "--mask", "--watch", "--interval", "0.1", "--", PYTHON, "-c", speaker
    )
    proc = subprocess.Popen(argv, env=seeded.env(), stdout=subprocess.PIPE, text=True)
    lines: list[str] = []
    assert proc.stdout is not None
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout or []), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 30
        while len(lines) < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        cli_runner.ok("secrets", "set", "TOKEN=second-token-value", *WEB)
        while len(lines) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(timeout=30)
    proc.stdout.close()
    assert lines == ["token is [stacksafe:TOKEN]\n", "token is [stacksafe:TOKEN]\n"]


# Writes the secret's first half to stdout and the rest to stderr (issue 17, item 7).
SPLIT = """
import os
value = os.environ["DB_PASSWORD"].encode()
os.write(1, b"password: " + value[:6])
os.write(2, value[6:] + b" (the rest, on stderr)\\n")
"""


def test_mask_on_one_screen_hides_a_value_split_across_stdout_and_stderr(
    seeded: Cli, cli_runner: InProcessCli
) -> None:
    cli_runner.ok("secrets", "set", "DB_PASSWORD=s3cr3t-pa55word", *WEB)
    argv = seeded.argv("run", *WEB, "--mask", "--", PYTHON, "-c", SPLIT)
    # `2>&1`: stdout and stderr are one pipe, read as one stream.
    piped = subprocess.run(
        argv,
        env=seeded.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        timeout=60,
        check=False,
    )
    assert piped.stdout == b"password: [stacksafe:DB_PASSWORD] (the rest, on stderr)\n"

    # A terminal: both on one pty, as on a screen.
    controller, terminal = pty.openpty()
    try:
        proc = subprocess.Popen(
            argv, env=seeded.env(), stdin=terminal, stdout=terminal, stderr=terminal
        )
    finally:
        os.close(terminal)
    shown = b""
    try:
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # EIO: every end of the terminal is closed
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(controller)
        assert proc.wait(timeout=60) == 0
    assert shown == b"password: [stacksafe:DB_PASSWORD] (the rest, on stderr)\r\n"

    # Apart (a file and a pipe), each stream is masked on its own and keeps its own place.
    apart = subprocess.run(argv, env=seeded.env(), capture_output=True, timeout=60, check=False)
    assert apart.stdout == b"password: s3cr3t"
    assert apart.stderr == b"-pa55word (the rest, on stderr)\n"

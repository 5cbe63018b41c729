"""README.md's tour, run as written: its ```sh blocks in order, then its ```python snippet, in one
bash script against a fresh data dir and a real `stacksafe serve` over TLS.

What a user types is what runs. The test changes only what a shared CI machine forces on it, each
substitution checked to apply exactly once (a README that drifts fails here, not silently):

* the port: ``serve`` gets a free port instead of 8200 (other runs may hold 8200), and
  ``STACKSAFE_ADDR`` names it;
* the pace: after the line that starts ``serve`` in the background, the script waits until the
  port accepts connections (a user reading the next line gives it that time);
* the hidden prompts (``secrets set`` without a value, ``users set-password``) are answered
  through a pseudo-terminal, as a user types at them: they refuse a pipe on purpose.
"""

from __future__ import annotations

import fnmatch
import os
import pty
import re
import select
import signal
import socket
import sys
import time
from pathlib import Path

from tests.cli.helpers import parent_environ
from tests.cli.test_prompt import type_when_echo_is_off

README = Path(__file__).resolve().parent.parent / "README.md"
VENV = Path(sys.executable).parent.parent
DEADLINE_SECONDS = 300  # a hang guard: ~30 CLI starts, ~25 s of CPU, longer on a busy machine

# What the hidden prompts are answered with: the prompt's text, then the line typed (twice: each
# prompt asks again to confirm).
ACCOUNT_PASSWORD = "account-db-password-1"
OVERRIDE_PASSWORD = "override-db-password-2"
ALICE_PASSWORD = "alice-web-password-3"
API_KEY = "sk_test_51HqLyjWDarjtT1zdp7dc"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


WAIT_FOR_PORT = """python - <<'WAIT'
import socket, time
deadline = time.monotonic() + 30
while True:
    try:
        socket.create_connection(("127.0.0.1", {port}), timeout=1).close()
        break
    except OSError:
        if time.monotonic() > deadline:
            raise SystemExit("serve did not start listening")
        time.sleep(0.05)
WAIT
"""


def fenced_blocks(markdown: str) -> list[tuple[str, str]]:
    """(language, text) of every fenced block, in order."""
    return [
        (m.group(1), m.group(2))
        for m in re.finditer(r"^```(\w*)\n(.*?)^```$", markdown, re.M | re.S)
    ]


def replace_once(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"README tour: expected {old!r} exactly once"
    return text.replace(old, new)


def tour_script(markdown: str, port: int) -> str:
    """The bash script: the sh blocks and the python snippet, in the README's order."""
    parts = [
        "set -euo pipefail",
        "trap 'echo \"TOUR FAILED AT: $BASH_COMMAND\" >&2' ERR",
        # The backgrounded server stops with the script, and the script waits for it to stop.
        "trap 'kill $(jobs -p) 2>/dev/null || true; wait' EXIT",
    ]
    for language, text in fenced_blocks(markdown):
        if language == "sh":
            parts.append(text)
        elif language == "python":
            parts.append(f"python - <<'README_PYTHON'\n{text}README_PYTHON")
    script = "\n".join(parts)
    serve_line = next(line for line in script.splitlines() if line.startswith("stacksafe serve "))
    assert re.search(r"&\s+#", serve_line), "the tour starts serve in the background"
    script = replace_once(
        script,
        serve_line,
        serve_line.replace("stacksafe serve ", f"stacksafe serve --port {port} ", 1)
        + "\n"
        + WAIT_FOR_PORT.format(port=port),
    )
    return replace_once(script, "https://127.0.0.1:8200 ", f"https://127.0.0.1:{port} ")


def run_in_terminal(script: Path, cwd: Path, env: dict[str, str]) -> tuple[int, str]:
    """Run bash on ``script`` in a pseudo-terminal, answering the hidden prompts; its exit status
    and everything it printed (stdout and stderr, as a terminal shows them)."""
    answers = {
        "Value for DATABASE_PASSWORD: ": [ACCOUNT_PASSWORD, OVERRIDE_PASSWORD],
        "Password for alice@example.com: ": [ALICE_PASSWORD],
    }
    pid, fd = pty.fork()
    if pid == 0:  # the child: becomes bash, its terminal the pty
        os.chdir(cwd)
        os.execve("/bin/bash", ["bash", str(script)], env)  # noqa: S606 (the tour is bash)
    output = b""
    answered = 0
    pending: str | None = None  # what the confirmation prompt gets: the same line again
    deadline = time.monotonic() + DEADLINE_SECONDS
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 1.0)
            if not ready:
                continue
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            output += chunk
            shown = output.decode("utf-8", "replace")
            tail = shown[answered:]
            typed: str | None = None
            for prompt, lines in answers.items():
                if tail.endswith(prompt) and lines:
                    typed = pending = lines.pop(0)
            if typed is None and tail.endswith("Repeat for confirmation: ") and pending:
                typed, pending = pending, None
            if typed is not None:
                answered = len(shown)
                type_when_echo_is_off(fd, typed.encode() + b"\n")
        else:
            raise AssertionError(f"the tour hung:\n{output.decode('utf-8', 'replace')}")
    finally:
        with_status = os.waitpid(pid, os.WNOHANG)
        if with_status == (0, 0):
            os.killpg(pid, signal.SIGKILL)
            with_status = os.waitpid(pid, 0)
        os.close(fd)
    assert not any(answers.values()), f"prompts never asked: {answers}"
    return os.waitstatus_to_exitcode(with_status[1]), output.decode("utf-8", "replace")


def test_the_readme_tour_runs_as_written(tmp_path: Path) -> None:
    port = free_port()
    script = tmp_path / "tour.sh"
    script.write_text(tour_script(README.read_text(encoding="utf-8"), port))
    # The tour runs at the root of a checkout after `make install`: its .venv is this one.
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    (checkout / ".venv").symlink_to(VENV)
    env = parent_environ() | {"TERM": "dumb", "HOME": str(tmp_path)}

    status, shown = run_in_terminal(script, checkout, env)

    shown = shown.replace("\r\n", "\n")
    assert status == 0, shown
    assert "Error" not in shown, shown
    # The account's value is inherited, overridden, then shows through again.
    assert f'"raw_value": "{ACCOUNT_PASSWORD}"' in shown
    assert f"API key: {API_KEY}\n" in shown  # run: the child has the secret
    assert "API key: [stacksafe:API_KEY]\n" in shown  # run --mask: its output does not
    assert (checkout / ".stacksafe-tour" / "files" / "API_KEY").read_text() == API_KEY
    # Over HTTPS as alice (production token, deployer on web): the inherited value, revealed.
    remote_list = shown.split("DATABASE_PASSWORD", 1)[1]
    assert ACCOUNT_PASSWORD in remote_list
    # The audit table says from where; verify walks the chain.
    alice_read = r"^\d+ +\S+ +alice@example\.com +127\.0\.0\.1 +reveal +ok +.*DATABASE_PASSWORD@1"
    assert re.search(alice_read, shown, re.M), shown
    assert "Audit log intact" in shown
    # The SDK snippet: the typed stack, and a value that stays masked when printed.
    assert f"web production ********** {len(ACCOUNT_PASSWORD)}\n" in shown
    assert OVERRIDE_PASSWORD not in shown  # typed at a hidden prompt, never shown
    assert ALICE_PASSWORD not in shown
    # Run at the root of a checkout, the tour leaves nothing git would pick up (master.key!).
    written = sorted(entry.name for entry in checkout.iterdir() if entry.name != ".venv")
    assert written == [".env", ".stacksafe-tour", "app.py", "ca.pem", "cert.pem", "key.pem"]
    assert [name for name in written if not ignored(name, (checkout / name).is_dir())] == []


def ignored(name: str, is_dir: bool) -> bool:
    """Whether the checkout's .gitignore ignores ``name`` at its root (the patterns it uses)."""
    patterns = [
        line.strip()
        for line in (README.parent / ".gitignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    candidates = {name, f"/{name}"} | ({f"{name}/", f"/{name}/"} if is_dir else set())
    return any(
        fnmatch.fnmatchcase(candidate, pattern) for pattern in patterns for candidate in candidates
    )


def test_make_test_prerequisites_are_next_to_it() -> None:
    """What .ci/run installs for the suite (PostgreSQL server binaries, Chromium, Node.js, wrk) is
    what the README's Quick start tells a newcomer to install, next to `make test`."""
    ci = (README.parent / ".ci" / "run").read_text(encoding="utf-8")
    installed = re.findall(r"apt-get install -y --no-install-recommends (.+)", ci)
    assert sorted(installed) == ["chromium", "nodejs npm", "postgresql", "wrk"]
    readme = README.read_text(encoding="utf-8")
    quick_start = readme[readme.index("## Quick start") : readme.index("## A short tour")]
    assert "make test" in quick_start
    for package in installed:
        assert f"apt-get install {package}`" in quick_start, package
    assert "Chromium" in quick_start
    assert "PostgreSQL server binaries" in quick_start
    assert "Node.js and npm" in quick_start
    assert "wrk" in quick_start

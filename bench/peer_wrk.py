"""wrk driven by a Lua script: the paths of one task in turn, and write bodies that vary.

A read task rotates over its paths (the 50 keys of a single-key reveal); a write task also makes
every body a new value, ``wrk-TT-NNNNNNNNN-RRRRRRRR`` (wrk's thread, its request counter, a random
word): always the same length, never the same value twice, so every write is a new version and
none is a no-op. After a run, :data:`WRITTEN` tells a value wrk wrote from any other.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import api_bench

__all__ = ["WRITTEN", "Load", "run"]

WRITTEN = re.compile(r"wrk-\d{2}-\d{9}-[0-9a-f]{8}")

SCRIPT = """\
local paths = {{{paths}}}
local method = {method}
local head, tail = {head}, {tail}
wrk.headers[{header}] = {token}
wrk.headers["Content-Type"] = "application/json"

local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

function init(args)
  math.randomseed(tid * 7919 + os.time())
end

local n = 0
function request()
  n = n + 1
  local path = paths[(n % #paths) + 1]
  if head == nil then
    return wrk.format(method, path)
  end
  local value = string.format("wrk-%02d-%09d-%08x", tid, n, math.random(0, 2147483647))
  return wrk.format(method, path, nil, head .. value .. tail)
end
"""


def _lua(text: str | None) -> str:
    if text is None:
        return "nil"
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True)
class Load:
    """What wrk sends: ``method`` on ``paths`` in turn, with one header (the token); for a
    write, ``body`` is the JSON body with ``{value}`` where each request's new value goes."""

    method: str
    paths: tuple[str, ...]
    header: tuple[str, str]
    body: str | None = None

    def script(self) -> str:
        head, tail = (None, None) if self.body is None else self.body.split("{value}")
        return SCRIPT.format(
            paths=", ".join(_lua(p) for p in self.paths),
            method=_lua(self.method),
            head=_lua(head),
            tail=_lua(tail),
            header=_lua(self.header[0]),
            token=_lua(self.header[1]),
        )


def run(
    port: int,
    load: Load,
    duration: int,
    script: Path,
    connections: int = api_bench.WRK_CONNECTIONS,
) -> api_bench.WrkResult:
    """``wrk -t2 -c32`` (``connections``) for ``duration`` seconds with ``load``'s script
    (written to ``script``)."""
    script.write_text(load.script())
    argv = [
        *("wrk", f"-t{api_bench.WRK_THREADS}", f"-c{connections}"),
        *(f"-d{duration}s", "--latency", "--timeout", f"{api_bench.WRK_TIMEOUT}s"),
        *("-s", str(script), f"http://{api_bench.HOST}:{port}"),
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 30, check=True)
    return api_bench._parse_wrk(done.stdout)

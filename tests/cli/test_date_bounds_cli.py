"""An expiry out of range on the command line is bad input (exit 2, one line naming it), not a
crash (exit 70): year 9999 with a negative offset is year 10000 in UTC."""

from __future__ import annotations

from tests.cli.helpers import Cli, InProcessCli, error_line

BAD_INPUT = 2
WEB = ("--stack", "web")


def test_an_expiry_in_year_10000_utc_is_bad_input(seeded: Cli, cli_runner: InProcessCli) -> None:
    cli_runner.ok("secrets", "set", "K=v", *WEB)
    refused = seeded.fails(
        BAD_INPUT, "rotation", "set", "K", *WEB, "--expires-at", "9999-12-31T23:59:59-05:00"
    )
    assert "expires_at must lie between 1970 and 9000" in error_line(refused.stderr)
    too_long = cli_runner.invoke("rotation", "set", "K", *WEB, "--every", "999999w")
    assert too_long.exit_code == BAD_INPUT
    assert error_line(too_long.stderr).startswith("Error: --every: duration")
    assert cli_runner.invoke("rotation", "show", "K", *WEB).exit_code == 3  # no policy was set

"""What a command started by `stacksafe run` inherits of stacksafe's own configuration.

`run --only KEY` promises the command KEY, not the means to fetch everything else the token or
the master key reaches: stacksafe's credentials (``settings.CREDENTIAL_VARIABLES``) are taken out
of the environment it hands on, unless ``--keep-stacksafe-env`` asks to keep them (a command
that runs stacksafe itself). A secret of the stack that happens to carry one of those names is
still given: the command asked for the stack's values, and those are what ``run`` delivers.
"""

from __future__ import annotations

from collections.abc import Mapping

from stacksafe.settings import CREDENTIAL_VARIABLES

__all__ = ["inherited_environment"]


def inherited_environment(
    environ: Mapping[str, str], *, keep_stacksafe_env: bool
) -> dict[str, str]:
    """``environ`` as the command inherits it: without stacksafe's credentials by default."""
    if keep_stacksafe_env:
        return dict(environ)
    return {k: v for k, v in environ.items() if k not in CREDENTIAL_VARIABLES}

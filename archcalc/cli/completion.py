"""`completion`: typer's own completion script for bash, zsh or fish, printed (as --show-completion does).

The script asks archcalc itself what completes a word, so it offers every
command, option and choice the program has, network names (and spec files)
where a network goes and a network's layer names after `explain NET`.
"""

from __future__ import annotations

import sys
from typing import Annotated

from typer._completion_shared import get_completion_script

from .command import argument, command

SHELLS = ("bash", "zsh", "fish")


@command("completion")
def completion_command(shell: Annotated[str, argument("bash|zsh|fish", "The shell to complete archcalc's command "
                                                                      "line in.", choices=SHELLS)]) -> None:
    """Print the shell completion script for bash, zsh or fish (typer's, as --show-completion prints it).

    Install: eval "$(archcalc completion bash)" in ~/.bashrc · eval "$(archcalc completion zsh)" in ~/.zshrc ·
    archcalc completion fish > ~/.config/fish/completions/archcalc.fish; or let archcalc --install-completion do it.

    Example: archcalc completion bash > /etc/bash_completion.d/archcalc
    """
    script = get_completion_script(prog_name="archcalc", complete_var="_ARCHCALC_COMPLETE", shell=shell)
    sys.stdout.write(script if script.endswith("\n") else script + "\n")

"""`completion`: a shell completion script (bash, zsh, fish) written from the commands' own parameters.

argparse has no completion of its own. The script is generated from the
registry, so it offers every command, option and choice the parser knows,
bundled network names where a network goes and file names where a path goes.
"""

from __future__ import annotations

import sys

from .. import catalog
from . import registry
from .command import Command, Param, UsageError, argument, command

SHELLS = ("bash", "zsh", "fish")
INSTALL = {
    "bash": 'eval "$(archcalc completion bash)"    # in ~/.bashrc',
    "zsh": 'eval "$(archcalc completion zsh)"     # in ~/.zshrc, after compinit',
    "fish": "archcalc completion fish > ~/.config/fish/completions/archcalc.fish",
}


@command("completion", argument("shell", "bash|zsh|fish", "The shell to complete archcalc's command line in."))
def completion_command(shell: str) -> None:
    """Print a completion script for bash, zsh or fish: commands, options, choices, network names and files.

    Install: eval "$(archcalc completion bash)" in ~/.bashrc · eval "$(archcalc completion zsh)" in ~/.zshrc ·
    archcalc completion fish > ~/.config/fish/completions/archcalc.fish

    Example: archcalc completion bash > /etc/bash_completion.d/archcalc
    """
    if shell not in SHELLS:
        raise UsageError(f"SHELL: expected bash, zsh or fish; received '{shell}'")
    commands = registry.commands()
    sys.stdout.write(fish(commands) if shell == "fish" else bash(commands, zsh=shell == "zsh"))


def _words(param: Param) -> str:
    """What completes a value: its choices, `@nets` (networks and files), `@files`, or nothing."""
    if param.choices:
        return " ".join(param.choices)
    if "NET" in param.metavar:
        return "@nets"
    if "PATH" in param.metavar or "FILE" in param.metavar:
        return "@files"
    if param.metavar == "bash|zsh|fish":
        return " ".join(SHELLS)
    return ""


def _options(cmd: Command) -> list[str]:
    return [f for p in cmd.params for f in p.flags] + ["--help", "-h"]


def bash(commands: list[Command], zsh: bool = False) -> str:
    """The bash function (zsh runs it through bashcompinit)."""
    nets = " ".join(catalog.bundled())
    lines = [f"# archcalc completion for {'zsh' if zsh else 'bash'}: {INSTALL['zsh' if zsh else 'bash']}"]
    if zsh:
        lines.append("autoload -U +X bashcompinit && bashcompinit")
    lines += [
        "_archcalc_words() {",
        '    case "$1" in',
        f'        @nets) compgen -W "{nets}" -- "$2"; compgen -f -- "$2" ;;',
        '        @files) compgen -f -- "$2" ;;',
        '        *) compgen -W "$1" -- "$2" ;;',
        "    esac",
        "}",
        "_archcalc() {",
        '    local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}" cmd="${COMP_WORDS[1]}"',
        '    if [ "$COMP_CWORD" -eq 1 ]; then',
        f'        COMPREPLY=($(compgen -W "{" ".join(c.name for c in commands)} --help -h --version" -- "$cur")); return',
        "    fi",
        '    case "$cmd" in',
    ]
    for cmd in commands:
        values = [p for p in cmd.params if p.flags and not p.is_flag]
        positional = next((p for p in cmd.params if not p.flags), None)
        lines.append(f"        {cmd.name})")
        if values:
            lines.append('            case "$prev" in')
            for p in values:
                lines.append(f'                {"|".join(p.flags)}) COMPREPLY=($(_archcalc_words "{_words(p)}" "$cur")); return ;;')
            lines.append("            esac")
        lines.append(f'            if [[ "$cur" == -* ]]; then COMPREPLY=($(compgen -W "{" ".join(_options(cmd))}" -- "$cur")); return; fi')
        if positional is not None and _words(positional):
            lines.append(f'            COMPREPLY=($(_archcalc_words "{_words(positional)}" "$cur"))')
        lines.append("            ;;")
    lines += ["    esac", "}", "complete -o filenames -F _archcalc archcalc", ""]
    return "\n".join(lines)


def _fish_text(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def fish(commands: list[Command]) -> str:
    """`complete` lines for fish, one per command, option and argument."""
    from .help import paragraphs

    nets = " ".join(catalog.bundled())
    lines = [f"# archcalc completion for fish: {INSTALL['fish']}", "complete -c archcalc -f",
             "complete -c archcalc -n __fish_use_subcommand -l version -d 'Show the version and exit.'"]
    for cmd in commands:
        summary = paragraphs(cmd.doc)[0]
        lines.append(f"complete -c archcalc -n __fish_use_subcommand -a {cmd.name} -d {_fish_text(summary[:80])}")
        seen = f"-n '__fish_seen_subcommand_from {cmd.name}'"
        for p in cmd.params:
            words = _words(p)
            values = f"-a {_fish_text(nets)} -F" if words == "@nets" else "-F" if words == "@files" else (
                f"-a {_fish_text(words)}" if words else "")
            if not p.flags:
                if values:
                    lines.append(f"complete -c archcalc {seen} {values}")
                continue
            names = " ".join(f"-l {f[2:]}" if f.startswith("--") else f"-s {f[1:]}" for f in p.flags)
            takes = "" if p.is_flag else (" -r" if words.startswith("@") else " -x")
            lines.append(f"complete -c archcalc {seen} {names}{takes} {values} -d {_fish_text(p.help[:80])}".replace("  ", " "))
        lines.append(f"complete -c archcalc {seen} -s h -l help -d 'Show this message and exit.'")
    return "\n".join(lines) + "\n"

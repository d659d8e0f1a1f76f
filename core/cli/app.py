"""The ``hwprof`` command line: parses, calls the registry and estimators, renders. Nothing else.

Every command prints a table by default and stable JSON with ``--json``. Bad input raises
``HwprofError``; ``main`` turns it into one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from ..data import plugin_calls, plugin_loading, registry
from ..data.printable import printable
from ..errors import HwprofError
from ..service.session import Session, begin
from ..version import __version__
from .common import warn_once, warned
from .render import echo, note

# Built-in command groups: modules implementing ``hwprof_register_commands``, the hook a
# third-party plugin uses for its own commands, and the top-level words each adds. Registered
# before plugins, so theirs come first; a command line naming one imports only that module.
BUILTIN_COMMANDS: dict[str, tuple[str, ...]] = {
    "hardware": ("chips", "interconnects", "systems", "models"),
    "estimate": ("estimate",), "compare": ("compare",), "plan": ("plan",), "validate": ("validate",),
    "prices": ("prices",), "plugins": ("plugins",), "profiles": ("profiles",), "cache": ("cache",),
}  # fmt: skip


def _new_app() -> typer.Typer:
    return typer.Typer(
        name="hwprof",
        help="Hardware profiles for ML accelerators, combined into sourced estimates.",
        no_args_is_help=True,
        rich_markup_mode=None,
        pretty_exceptions_enable=False,
        add_completion=True,  # --install-completion; ids complete through each option's autocompletion
    )


def _version(value: bool) -> None:
    if value:
        echo(f"hwprof {__version__}")
        raise typer.Exit()


def _main(
    ctx: typer.Context,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
    strict_plugins: Annotated[
        bool,
        typer.Option(
            "--strict-plugins",
            help="Fail on a broken plugin or profile instead of warning (also HWPROF_STRICT_PLUGINS=1).",
        ),
    ] = False,
    profiles: Annotated[
        list[Path] | None, typer.Option("--profiles", help="Also load the *.toml profiles in this folder (repeatable).")
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
) -> None:
    """Hardware profiles for ML accelerators, combined into sourced estimates.

    Plugins load from the `hwprof` entry-point group; HWPROF_LOAD_PLUGINS=a,b loads only those
    (set but empty: none). User profiles load from the config folder and HWPROF_PROFILE_PATH.
    """
    for folder in profiles or []:
        if not folder.is_dir():
            raise HwprofError(f"--profiles {folder}: not a folder; pass a folder holding *.toml profiles")
    ctx.obj = Session(strict=strict_plugins, profile_dirs=list(profiles or []), on_warning=warn_once, on_note=note)
    begin(ctx.obj)
    if debug:
        os.environ["HWPROF_DEBUG"] = "1"


# ----------------------------------------------------------------------------- entry point


def build_app(command: str | None = None, strict: bool = False) -> typer.Typer:
    """The app: the global options, then the command groups, built-in and from plugins.

    With ``command`` (the first word of a command line) naming a built-in group, only that module
    is imported; plugins' commands are always added. A plugin whose hook raises is reported and
    skipped.
    """
    import functools
    import importlib

    app = _new_app()
    app.callback()(_main)
    loaded = registry.modules(Session().settings())
    manager = loaded.manager
    # Reported here too, for commands that never load records (--help): once per invocation.
    problems = plugin_loading.load_problems(loaded) + [
        plugin_loading.skipped(i) for i in loaded.infos if i.status == "failed"
    ]
    for problem, then in problems:
        if strict:
            raise HwprofError(f"{problem} (strict mode: without --strict-plugins, {then})")
        warn_once(f"{problem}; {then}")
    wanted = [m for m, words in BUILTIN_COMMANDS.items() if command in words] or list(BUILTIN_COMMANDS)
    for name in wanted:
        if manager.get_plugin(f"{BUILTIN_PREFIX}{name}") is None:
            module = importlib.import_module(f"hwprof.cli.{name}")
            manager.register(_Commands(module.hwprof_register_commands), name=f"{BUILTIN_PREFIX}{name}")
    impls = list(reversed(manager.hook.hwprof_register_commands.get_hookimpls()))  # built-ins first
    owners: dict[tuple[str, ...], str] = {}  # command path -> the plugin that added it first
    for impl in impls:
        before = {id(entry) for _, _, entry in _commands(app)}
        call = plugin_calls.caller_for(manager, "hwprof_register_commands", impl.plugin)
        _, failure = plugin_calls.contained(
            impl.plugin_name, "hwprof_register_commands", functools.partial(call, cli=app)
        )
        if failure:
            warn_once(f"plugin {impl.plugin_name!r} could not add its commands: {failure}")
        for path, holder, entry in _commands(app):
            if id(entry) in before:
                continue
            if path not in owners:
                owners[path] = impl.plugin_name
                continue
            holder.remove(entry)  # a command another plugin (or hwprof itself) added is never taken over
            owner = owners[path]
            owner = (
                f"hwprof's own {owner.removeprefix(BUILTIN_PREFIX)!r}"
                if owner.startswith(BUILTIN_PREFIX)
                else f"plugin {owner!r}"
            )
            warn_once(f"plugin {impl.plugin_name!r} adds the command `hwprof {' '.join(path)}`, which {owner} "
                      "already provides; the plugin's command is ignored")  # fmt: skip
    return app


BUILTIN_PREFIX = "hwprof.cli."


class _Commands:
    """A built-in command module's hook alone: pluggy inspects every attribute of what it registers."""

    def __init__(self, hook: object) -> None:
        self.hwprof_register_commands = hook

    def __dir__(self) -> list[str]:  # what pluggy looks through for hooks
        return ["hwprof_register_commands"]


def _name(entry: Any) -> str:
    """A command's name as typer gives it: its own, or its function's with ``-`` for ``_``."""
    return str(entry.name or (entry.callback.__name__.lower().replace("_", "-") if entry.callback else ""))


def _commands(app: typer.Typer) -> list[tuple[tuple[str, ...], list[Any], Any]]:
    """(path, the list holding it, entry) for each command and group: ``("prices", "list")``."""

    name = _name
    found: list[tuple[tuple[str, ...], list[Any], Any]] = []
    found += [((name(e),), app.registered_commands, e) for e in app.registered_commands]
    for group in app.registered_groups:
        sub = group.typer_instance
        label = str(group.name or (sub.info.name if sub else "") or "")
        found.append(((label,), app.registered_groups, group))
        if sub is not None:
            found += [((label, name(e)), sub.registered_commands, e) for e in sub.registered_commands]
    return found


def _command_word(args: list[str]) -> str | None:
    """The first word of ``args`` that is not a global option or its value."""
    at = _command_at(args)
    return None if at is None else args[at]


def _command_at(args: list[str]) -> int | None:
    skip = False
    for at, word in enumerate(args):
        if skip:
            skip = False
        elif word == "--profiles":
            skip = True
        elif not word.startswith("-"):
            return at
    return None


def _app_for(app: typer.Typer, args: list[str]) -> typer.Typer:
    """The app holding only what ``args`` run, or the whole app.

    Typer turns every command of every group into click commands before parsing, which is most
    of start-up (benchmarks/startup.py). So a command line naming a group gets an app holding that
    group alone, and only the command named after it (``chips list``) when there is one; one naming
    a top-level command gets that command; one naming none (``hwprof --help``, ``hwprof``) gets
    each group emptied, keeping the name and help the command list shows. A word hwprof does not
    know (``No such command``) gets the whole app. Shell completion passes ``_completed_words``.
    """
    at = _command_at(args)
    if at is None:
        return _pruned(app, app.registered_commands, [_holding(g, []) for g in app.registered_groups])
    group = next((g for g in app.registered_groups if g.name == args[at]), None)
    if group is not None:
        sub = group.typer_instance
        word = args[at + 1] if at + 1 < len(args) else None
        named = [c for c in sub.registered_commands if _name(c) == word] if sub and not sub.registered_groups else []
        return _pruned(app, [], [_holding(group, named) if named else group])
    command = next((c for c in app.registered_commands if _name(c) == args[at]), None)
    return _pruned(app, [command], []) if command is not None else app


def _pruned(app: typer.Typer, commands: list[Any], groups: list[Any]) -> typer.Typer:
    pruned = _new_app()
    pruned.registered_callback = app.registered_callback
    pruned.registered_commands, pruned.registered_groups = list(commands), groups
    return pruned


def _holding(group: Any, commands: list[Any]) -> Any:
    """``group`` holding only ``commands``, with its name, help and callback kept.

    A group added without a name lends its commands to the top level, so it is kept whole.
    """
    import copy

    sub = group.typer_instance
    if sub is None or not (group.name or sub.info.name):
        return group
    narrowed = typer.Typer()
    narrowed.info, narrowed.registered_callback, narrowed.registered_commands = (
        sub.info, sub.registered_callback, list(commands))  # fmt: skip
    holder = copy.copy(group)
    holder.typer_instance = narrowed
    return holder


def _completed_words() -> list[str] | None:
    """In shell completion (typer's ``_HWPROF_COMPLETE``), the words before the one being completed,
    program name left out: what the command line names so far. None when not completing.

    Split on spaces: a quoted word split wrongly names no command, and then the whole app is built."""
    if not os.environ.get("_HWPROF_COMPLETE"):
        return None
    if "COMP_WORDS" in os.environ:  # bash: the words, and the index of the one being completed
        words = os.environ["COMP_WORDS"].split()
        try:
            return words[1 : int(os.environ.get("COMP_CWORD", ""))]
        except ValueError:
            return []
    line = os.environ.get("_TYPER_COMPLETE_ARGS", "")  # zsh, fish, PowerShell: the line so far
    words = line.split()
    return words[1:] if line.endswith(" ") else words[1:-1]


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point: one clear line and exit 1 on bad input, never a traceback."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args or bool(os.environ.get("HWPROF_DEBUG"))
    warned.clear()
    try:
        if args[:1] == ["--version"]:  # needs no plugin: a plugin's slow or failing hook cannot delay it
            echo(f"hwprof {__version__}")
            return 0
        strict = "--strict-plugins" in args[: _command_at(args)]
        named = _completed_words()
        named = args if named is None else named
        app = build_app(_command_word(named), strict or Session().settings().strict)
        command = typer.main.get_command(_app_for(app, named))
        _guard_numbers(command)
        command.main(args=args, prog_name="hwprof", standalone_mode=True)
        sys.stdout.flush()  # a full disk or a closed pipe shows here, not in the interpreter's exit
    except HwprofError as exc:
        if debug:
            raise
        sys.stderr.write(f"error: {printable(exc.for_cli())}\n")
        return exc.exit_code
    except SystemExit as exc:
        if exc.code == 130:  # typer turns Ctrl-C into a silent exit 130
            sys.stderr.write("interrupted\n")
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EPIPE, errno.EIO, errno.EDQUOT, errno.EFBIG):
            return _internal_error(exc, debug)
        _drop_stdout()
        if exc.errno == errno.EPIPE:  # the reader stopped reading (``| head``): not an error
            return 0
        sys.stderr.write(f"error: cannot write the output: {exc.strerror or exc}\n")
        return 1
    except Exception as exc:  # a bug, not bad input: still one line, with the way to see more
        return _internal_error(exc, debug)
    return 0


NUMBER_TYPES = ("FloatParamType", "IntParamType", "FloatRange", "IntRange")  # click's numeric types


def _guard_numbers(command: Any) -> None:
    """A safety net under every numeric option, hwprof's or a plugin's, that states no bound of its
    own (``checked``): finite, and no larger than 1e18, so no NaN or 300-digit number reaches the maths."""
    for param in command.params:
        if type(param.type).__name__ in NUMBER_TYPES:
            param.type = _suffixed(param.type)
            if param.callback is None:
                param.callback = _finite
    for sub in getattr(command, "commands", {}).values():
        _guard_numbers(sub)


SUFFIXES = {"k": 3, "m": 6, "b": 9, "t": 12}  # 15T tokens, 4K chips: thousand, million, billion, trillion


def _suffixed(kind: Any) -> Any:
    """``kind`` (click's int or float type) also reading a K, M, B or T suffix: ``15T`` is 15e12,
    ``1.5K`` 1,500; an int option refuses a suffixed value that is not whole (``1.5K`` is, ``1.2345K``
    is not). The number then goes through ``kind`` itself, so its ranges and messages hold."""
    if getattr(kind, "hwprof_suffixed", False):
        return kind

    class Suffixed(type(kind)):  # type: ignore[misc]
        hwprof_suffixed = True

        def convert(self, value: Any, param: Any, ctx: Any) -> Any:
            text = value.strip() if isinstance(value, str) else ""
            if text[-1:].lower() in SUFFIXES and text[:-1].strip():
                from decimal import Decimal, InvalidOperation

                try:
                    number = Decimal(text[:-1].strip()).scaleb(SUFFIXES[text[-1].lower()])
                except InvalidOperation:
                    self.fail(f"{value!r} is not a number (K, M, B and T suffixes are read: 15T = 15e12)", param, ctx)
                if "Int" in type(kind).__name__:
                    if number != number.to_integral_value():
                        self.fail(f"{value!r} is not a whole number", param, ctx)
                    value = str(int(number))
                else:
                    value = repr(float(number))
            return super().convert(value, param, ctx)

    suffixed = Suffixed.__new__(Suffixed)
    suffixed.__dict__.update(kind.__dict__)
    return suffixed


def _finite(ctx: Any, param: Any, value: Any) -> Any:
    from ..data import checks
    from .common import OptionError

    for item in value if isinstance(value, list | tuple) else [value]:
        if item is not None and (problem := checks.Bound("the value", -1e18, 1e18).problem(item)) is not None:
            raise OptionError(f"{param.opts[0] if param.opts else param.name}: {problem}")
    return value


def _internal_error(exc: Exception, debug: bool) -> int:
    """One line (the traceback with --debug) and exit 70, with --debug or without."""
    if debug:
        import traceback

        traceback.print_exception(exc)
        return 70
    sys.stderr.write(f"internal error: {type(exc).__name__}: {printable(str(exc))} "
                     "(rerun with --debug for the traceback, and please report it)\n")  # fmt: skip
    return 70


def _drop_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush does not fail a second time."""
    import contextlib

    with contextlib.suppress(OSError, ValueError):  # ValueError: no file descriptor (tests capture stdout)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


if __name__ == "__main__":
    sys.exit(main())

"""The `archc` command line: one click group; each command family lives in its own module."""

from __future__ import annotations

import importlib
import sys
import traceback

import click

from ..errors import SpecError


class UsageProblem(click.UsageError):
    """A usage error found after parsing (bad --set, bad --input): exit 2."""


# Each command and the module that defines it: a command's module (and what it imports) loads only when
# that command runs, so `archc shapes` never pays for export, memory or diff.
COMMANDS = {"validate": "static", "shapes": "static", "schema": "static", "list": "zoo", "zoo": "zoo",
            "diff": "diff", "build": "build", "graph": "graph", "export": "export", "bench": "export",
            "memory": "memory", "import": "imports"}


class LazyGroup(click.Group):
    """A click group whose commands are imported on first use (see COMMANDS)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(COMMANDS) | set(self.commands))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self.commands and name in COMMANDS:
            importlib.import_module(f"{__name__}.{COMMANDS[name]}")
        return self.commands.get(name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show Python tracebacks for archc's own errors.")
@click.option("--plugin", "plugins", multiple=True, metavar="FILE.py|NAME",
              help="Load user ops from a plugin file or an installed 'archc.ops' entry point. Repeatable.")
@click.version_option(package_name="archc")
@click.pass_context
def main(ctx: click.Context, debug: bool, plugins: tuple[str, ...]) -> None:
    """archc: a declarative architecture compiler for PyTorch.

    Validate YAML specs, infer every shape statically, and emit PyTorch modules,
    Python source, Graphviz diagrams and ONNX.
    """
    from ..plugins import load_plugins

    ctx.obj = {"debug": debug}
    load_plugins(plugins)


def _register() -> None:
    """Import every command's module, so that `main.commands` holds them all."""
    for module in sorted(set(COMMANDS.values())):
        importlib.import_module(f"{__name__}.{module}")


def run(argv: list[str] | None = None) -> int:
    """Entry point: maps spec errors to exit 1, usage errors to 2, and archc bugs to 3."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    try:
        code = main.main(args=args, prog_name="archc", standalone_mode=False)
        return code if isinstance(code, int) else 0
    except SpecError as exc:
        if debug and exc.__cause__ is not None:  # a plugin's own exception
            traceback.print_exception(exc.__cause__)
        click.echo(str(exc), err=True)
        count = exc.count
        click.echo(f"{count} error{'s' if count != 1 else ''}", err=True)
        return 1
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return 130
    except BrokenPipeError:
        return 0
    except OSError as exc:  # the file system refused: no such folder, no permission, disk full
        if debug:
            traceback.print_exc()
        where = f" ({exc.filename})" if exc.filename else ""
        click.echo(f"archc: error: {exc.strerror or exc}{where}", err=True)
        return 1
    except Exception as exc:  # an archc bug, never a spec problem
        if debug:
            traceback.print_exc()
        click.echo(f"archc: internal error: {type(exc).__name__}: {exc}", err=True)
        if not debug:
            click.echo("this is a bug in archc; run again with --debug for the traceback and report it", err=True)
        return 3


def entry() -> None:
    sys.exit(run())

"""The `edgecv` command line: the one place an EdgecvError becomes exit code 2.

Each sub-command is a module of this package (`edgecv/cli/<command>.py`), imported only
when invoked, so `edgecv --help` never pays for TensorFlow.
"""
from __future__ import annotations

import contextlib
import importlib
import sys

import click

from edgecv.errors import EdgecvError
from edgecv.version import __version__

# command name -> "module:attribute" of a click command; imported on first use.
COMMANDS = {
    "train": "edgecv.cli.train:train_command",
    "export": "edgecv.cli.export:export_command",
    "bench": "edgecv.cli.bench:bench_command",
    "info": "edgecv.cli.export:info_command",
    "models": "edgecv.cli.models:models_command",
    "data": "edgecv.cli.data:data_group",
}

HELP = {
    "train": "Run every stage a recipe names: train, prune, qat, export, bench.",
    "export": "Export a run directory or Keras model to TFLite formats.",
    "bench": "Benchmark a .tflite file or run directory: latency, accuracy, gates.",
    "info": "Show a .tflite file's ops, tensors, quantization and EdgeTPU verdict.",
    "models": "List registered model builders with params, MACs and input size.",
    "data": "Validate datasets, write generated sets as files, compute anchors.",
}


class LazyGroup(click.Group):
    """A click group whose sub-commands are imported when they are used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module_name, attr = COMMANDS[name].split(":")
        return getattr(importlib.import_module(module_name), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Show the help lines without importing every command module.
        with formatter.section("Commands"):
            formatter.write_dl([(name, HELP[name]) for name in sorted(COMMANDS)])


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="edgecv")
@click.option("--debug", is_flag=True, help="Show full tracebacks for errors.")
@click.option("--verbose", is_flag=True,
              help="Show TensorFlow's own messages on stderr (default: RUN_DIR/edgecv.log).")
@click.pass_context
def cli(ctx: click.Context, debug: bool, verbose: bool) -> None:
    """edgecv: recipe -> trained model -> verified int8 TFLite for edge devices."""
    ctx.obj = {"debug": debug, "verbose": verbose}


# Options of the group that users also type after the sub-command (`edgecv train R --debug`).
GLOBAL_FLAGS = ("--debug", "--verbose")


def hoist_global_flags(args: list[str]) -> list[str]:
    """Move --debug/--verbose in front of the sub-command, wherever they were typed
    (before a `--` that ends the options)."""
    end = args.index("--") if "--" in args else len(args)
    flags = [a for a in args[:end] if a in GLOBAL_FLAGS]
    return flags + [a for a in args[:end] if a not in GLOBAL_FLAGS] + args[end:]


def main(argv: list[str] | None = None) -> int:
    """Console entry point. Exit codes: 0 ok, 1 a gate failed, 2 user error."""
    args = hoist_global_flags(sys.argv[1:] if argv is None else list(argv))
    debug = "--debug" in args
    from edgecv import console
    from edgecv.signals import sigterm_as_interrupt

    # TensorFlow's C++ chatter goes to a log file (RUN_DIR/edgecv.log), not the terminal.
    capture = contextlib.nullcontext() if "--verbose" in args else console.capture_stderr(args)
    try:
        with sigterm_as_interrupt(), capture:  # `kill` unwinds like Ctrl-C: temp files are removed
            try:
                cli.main(args=args, prog_name="edgecv", standalone_mode=False)
            except Exception as exc:
                expected = (EdgecvError, click.ClickException, click.exceptions.Exit,
                            click.exceptions.Abort)     # Abort: click's Ctrl-C
                if not isinstance(exc, expected):
                    _show_log_of_crash()     # a bug: what TensorFlow said may explain it
                raise
    except EdgecvError as exc:
        if debug:
            raise
        click.echo(f"error: {exc}", err=True)
        return 2
    except (click.exceptions.Abort, KeyboardInterrupt) as exc:
        from edgecv.signals import Terminated

        # click wraps a KeyboardInterrupt into Abort, and signals.py a signal-mangled error
        # into the interrupt: what was raised first is down the chain of causes.
        chain = _causes(exc)
        line = "aborted (SIGTERM)" if any(isinstance(e, Terminated) for e in chain) else "aborted"
        # `edgecv train` sets the exact --resume command once the run can be continued.
        hint = next((e.resume_hint for e in chain if getattr(e, "resume_hint", None)), None)
        click.echo(f"{line}; continue with: {hint}" if hint else line, err=True)
        return 130
    except click.ClickException as exc:
        # Usage errors (unknown option, missing argument) are user errors too.
        exc.show()
        return 2
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except SystemExit as exc:
        # Commands end with SystemExit(1) when a gate fails, after writing the report.
        return exc.code if isinstance(exc.code, int) else 1
    except Exception as exc:
        # Disk full, read-only, no permission: from any write, Python's or TensorFlow's.
        from edgecv.oserrors import user_message

        message = user_message(exc)
        if message is None or debug:
            raise
        click.echo(f"error: {message}", err=True)
        return 2
    return 0


def _causes(exc: BaseException) -> list[BaseException]:
    """exc, its __cause__, that one's __cause__, ..."""
    chain = []
    while exc is not None and exc not in chain:
        chain.append(exc)
        exc = exc.__cause__
    return chain


def _show_log_of_crash() -> None:
    from edgecv import console

    kept = console.log_path()
    stream = console.user_stderr()
    if kept is not None:
        stream.write(f"(TensorFlow's messages of this run: {kept})\n")
    else:
        stream.write(console.captured_text())
    stream.flush()


def run() -> None:
    """setuptools console-script wrapper: exit with main()'s code."""
    sys.exit(main())

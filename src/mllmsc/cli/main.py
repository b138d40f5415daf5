"""Entry point of the ``mllmsc`` command.

Every command turns bad input into one line on stderr and exit code 2 (click's usage errors and
:class:`~mllmsc.errors.UserError` alike); any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import sys

import typer

try:  # typer >= 0.2x ships its own copy of click; its exceptions are not click's
    from typer._click import exceptions as click_errors
except ImportError:  # pragma: no cover - older typer uses click itself
    from click import exceptions as click_errors

from mllmsc.cli import channel, demo, env, evaluate, guide, report, scenes, serve, train, transmit
from mllmsc.errors import UserError

app = typer.Typer(
    name="mllmsc",
    help="MLLM-guided semantic communication: guidance → importance-aware deep JSCC → channel → decoder.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command(name="demo")(demo.demo)
app.command(name="env")(env.env)
app.command(name="channel")(channel.channel)
app.command(name="transmit")(transmit.transmit)
app.command(name="train")(train.train)
app.command(name="guide")(guide.guide)
app.command(name="scenes")(scenes.scenes)
app.command(name="eval")(evaluate.evaluate)
app.command(name="report")(report.report)
app.command(name="serve")(serve.serve)


def _fail(message: str) -> int:
    sys.stderr.write(f"mllmsc: error: {message}\n")
    return 2


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (the console script exits with it)."""
    command = typer.main.get_command(app)
    try:
        result = command.main(args=argv, prog_name="mllmsc", standalone_mode=False)
    except click_errors.NoArgsIsHelpError:  # bare `mllmsc`: typer has printed the help
        return 0
    except click_errors.UsageError as err:
        hint = f" (try '{err.ctx.command_path} --help')" if err.ctx is not None else ""
        return _fail(f"{err.format_message()}{hint}")
    except click_errors.ClickException as err:
        return _fail(err.format_message())
    except typer.Abort:
        return _fail("aborted")
    except UserError as err:
        return _fail(str(err))
    except KeyboardInterrupt:
        return _fail("interrupted")
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())

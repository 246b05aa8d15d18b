"""The CLI's grammar: the options every command shares, and errors reported in one place.

`modelbay --json jobs list`, `modelbay jobs --json list` and `modelbay jobs list --json` mean the same: the
shared options (--url, --region, --json, --debug) are accepted before a group, after it and after a command, and
each level merges what it was given into `ctx.obj`, which commands read. A command declares the ones that apply to
it (`Commands.command(options=...)`). Any error a command raises is one line on stderr (`report`) and exit status
1; `--debug` prints the traceback above it.
"""

from __future__ import annotations

import functools
import inspect
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import typer
from botocore.exceptions import BotoCoreError, ClientError
from typer.core import TyperGroup

from modelbay.cli.output import report
from modelbay.sdk import Session, UnexpectedStatus, client

F = TypeVar("F", bound=Callable[..., Any])

OPTIONS: dict[str, tuple[Any, Any]] = {  # name in ctx.obj: (type, typer option)
    "url": (str | None, typer.Option(None, "--url", help="Server URL.",
                                     show_default="$MODELBAY_URL, else http://127.0.0.1:7070")),
    "region": (str | None, typer.Option(None, "--region", help="AWS region.",
                                        show_default="$AWS_REGION, the AWS profile's, else us-east-1")),
    "json": (bool, typer.Option(False, "--json", help="Print results as JSON, for scripts.")),
    "debug": (bool, typer.Option(False, "--debug", help="Print an error's traceback.")),
}
CLIENT = ("url", "region", "json", "debug")  # a command that asks a server and prints what it answers
PLAIN = ("url", "region", "debug")  # a command that asks a server and prints text of its own (no --json)


def accepting(names: Sequence[str]) -> Callable[[F], F]:
    """Add the shared options `names` to a typer command or callback; those given win over the earlier ones."""
    def decorate(func: F) -> F:
        signature = inspect.signature(func, eval_str=True)
        parameters = list(signature.parameters.values())
        added = [inspect.Parameter(f"shared_{name}", inspect.Parameter.KEYWORD_ONLY, default=OPTIONS[name][1],
                                   annotation=OPTIONS[name][0]) for name in names]
        # typer hands the context to the one parameter typed so: the function's own, else one added here
        own_context = next((p.name for p in parameters if p.annotation is typer.Context), None)
        if own_context is None:
            added.append(inspect.Parameter("shared_ctx", inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context))

        @functools.wraps(func)
        def run(*args: Any, **kwargs: Any) -> Any:
            ctx = kwargs[own_context] if own_context else kwargs.pop("shared_ctx")
            merge(ctx, {name: kwargs.pop(f"shared_{name}") for name in names})
            return func(*args, **kwargs)

        run.__signature__ = signature.replace(parameters=[*parameters, *added])  # type: ignore[attr-defined]  # typer reads it (inspect.signature)
        return run  # type: ignore[return-value]  # the same call, with more keyword arguments
    return decorate


def merge(ctx: typer.Context, given: dict[str, Any]) -> None:
    """Merge the options given at this level into the command line's (`ctx.obj`, shared by every level)."""
    settings = ctx.ensure_object(dict)
    for name, value in given.items():
        if value or name not in settings:
            settings[name] = value


class Commands(typer.Typer):
    """A command group whose commands, and the group itself, accept the shared options."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(no_args_is_help=True, **kwargs)
        self.callback()(accepting(CLIENT)(_group))

    def command(self, *args: Any, options: Sequence[str] = CLIENT, **kwargs: Any) -> Callable[[F], F]:
        """typer's command decorator; the command also accepts the shared `options`."""
        register = super().command(*args, **kwargs)
        return lambda func: register(accepting(options)(func))


def _group() -> None:
    """A group's callback: nothing to do but accept the shared options (merged by `accepting`)."""


class ReportingGroup(TyperGroup):
    """The root command: an error any command raises is reported here as one line, exit status 1."""

    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]  # typer hands its own Context
        try:
            return super().invoke(ctx)
        except (typer.TyperException, typer.Exit, typer.Abort):
            raise  # usage errors and exits: typer words and ends them
        except BrokenPipeError:  # the reader stopped reading (`| head`): nothing to report, nowhere to print
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit's flush fails no more
            raise typer.Exit(1) from None
        except Exception as error:
            if (ctx.obj or {}).get("debug"):
                traceback.print_exc()
            report(describe(error))
            raise typer.Exit(1) from None


def describe(error: Exception) -> str:
    """The error in the words of whoever raised it: AWS's code and message, the system's, the SDK's."""
    if isinstance(error, ClientError):
        info = error.response.get("Error", {})
        return f"{info.get('Code', 'Error')}: {info.get('Message', '')}".rstrip(": ")
    if isinstance(error, OSError) and error.strerror:
        return f"{error.strerror}: {error.filename}" if error.filename else error.strerror
    if isinstance(error, BotoCoreError | OSError | UnexpectedStatus):
        return str(error)
    return f"{type(error).__name__}: {error} (--debug prints the traceback)"


def aws_client(ctx: typer.Context, service: str) -> Any:
    """A boto3 client for `service` on the server, in the region, that the options name."""
    return client(service, ctx.obj["url"], region_name=ctx.obj["region"])


def sdk_session(ctx: typer.Context) -> Session:
    """The SDK's session with the server, in the region, that the options name."""
    return Session(ctx.obj["url"], region=ctx.obj["region"])

"""`evofuse fuse PROMPT`: one fusion step from the command line, with a live view."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from evofuse.cli.options import ConfigOption, JsonOption, fusion_options, load

if TYPE_CHECKING:
    from evofuse.fusion import FusionEngine, FusionResult
    from evofuse.llm import Message
    from evofuse.options import FusionOptions


def fuse(
    prompt: Annotated[str, typer.Argument(help="The user message. Use - to read it from stdin.")],
    profile: Annotated[
        str | None,
        typer.Option("--profile", "-p", help="Fusion profile (default: fusion.default_profile)."),
    ] = None,
    mode: Annotated[
        str | None,
        typer.Option(
            "--mode",
            "-m",
            help="Override the profile's mode: best-of, merge, debate, single, vote or auto.",
        ),
    ] = None,
    system: Annotated[str | None, typer.Option("--system", "-s", help="A system message.")] = None,
    max_tokens: Annotated[
        int | None,
        typer.Option("--max-tokens", help="Completion cap per call (default: the profile's)."),
    ] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Seed of the judge's candidate shuffle.")
    ] = None,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Send one prompt through a pool of models and fuse the answers with a judge.

    Shows each member as it finishes, the judge's verdict, the answer, and a table of latency,
    tokens and cost. With --json, prints the result object (the API's `evofuse` object plus
    `content`) and nothing else on stdout.
    """
    from evofuse.llm import preload_in_background

    # LiteLLM's import (seconds) runs alongside the rest of start-up, and the gateway is warm
    # before the first member's timer starts (the engine's calls wait for it).
    preload_in_background()
    from evofuse.localmodel import local_model_running
    from evofuse.services import Services

    settings = load(config)
    if prompt == "-":
        prompt = sys.stdin.read()
    messages: list[Message] = []
    if system:
        messages.append({"role": "system", "content": system})
    messages.append({"role": "user", "content": prompt})
    options = fusion_options(profile=profile, mode=mode, max_tokens=max_tokens, seed=seed)
    # Services' engine: mode `auto` reads the store's rated runs (opened only if `auto` runs).
    engine = Services(settings).engine
    engine.gateway.start_warm_up()
    with local_model_running(settings.local_model, quiet=as_json):
        if as_json:
            result = asyncio.run(engine.run(messages, options))
            sys.stdout.write(json.dumps(result.model_dump(mode="json"), ensure_ascii=False) + "\n")
            return
        asyncio.run(_live(engine, messages, options))


async def _live(
    engine: FusionEngine, messages: list[Message], options: FusionOptions
) -> FusionResult:
    from evofuse.cli.render import FusionLiveView

    view = FusionLiveView()
    with view:
        async for event in engine.events(messages, options):
            view.update(event)
    assert view.result is not None
    view.print_summary()
    return view.result

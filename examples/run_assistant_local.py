"""Run the registered `assistant` graph on the embedded local model (no API key needed).

    python examples/run_assistant_local.py "Write a commit message for: fix off-by-one in pager"

Uses ./evofuse.yaml (or --config): its local_model section starts llama.cpp with SmolLM2-135M.
"""

import argparse
import asyncio
import json

from evofuse.config import load_settings
from evofuse.localmodel import local_model_running
from evofuse.services import Services


async def main(task: str, config: str | None) -> None:
    settings = load_settings(config)
    services = Services.from_settings(settings)
    try:
        with local_model_running(settings.local_model):
            async with services.runner() as runner:
                result = await runner.run("assistant", task, user="example-user")
    finally:
        services.close()
    print(json.dumps({"answer": result.answer, "evofuse": result.evofuse_object()}, indent=2))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task")
    parser.add_argument("--config", default=None)
    args = parser.parse_args()
    asyncio.run(main(args.task, args.config))

"""A request's `evofuse` overrides obey every rule a profile of the configuration file obeys.

The overridden profile is built by `FusionProfile`'s own validation and checked against
`model_list` like the file's profiles; a refusal is a 400 in OpenAI's shape naming the field,
before any model is called.
"""

from __future__ import annotations

from typing import Any

import pytest

from evofuse.testing import ModelBehavior
from tests.unit.api.conftest import Api


@pytest.mark.parametrize(
    ("overrides", "param", "words"),
    [
        ({"models": ["m1", "m1"]}, "evofuse.models", "m1 more than once"),
        ({"models": ["m1", "m2", "m2"]}, "evofuse.models", "m2 more than once"),
        ({"models": ["m1", "gpt-99"]}, "evofuse.models", "'gpt-99' is not a model_name"),
        ({"judge": "gpt-99"}, "evofuse.judge", "'gpt-99' is not a model_name"),
        # Profile `solo` has no judge: two members to fuse need one, as in the config file.
        ({"profile": "solo", "mode": "best-of", "models": ["m1", "m2"]}, "evofuse.mode", "judge"),
        ({"profile": "solo", "mode": "merge", "models": ["m1", "m2"]}, "evofuse.mode", "judge"),
    ],
)
async def test_an_override_the_profile_rules_refuse_is_a_400_naming_the_field(
    api: Api, overrides: dict[str, Any], param: str, words: str
) -> None:
    model = "assistant" if "profile" in overrides else "fusion/p"
    response = await api.chat(model=model, evofuse=overrides)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == param and error["type"] == "invalid_request_error"
    assert words in error["message"]
    assert api.upstream.requests == []  # refused before any model call

    streamed = await api.chat(model=model, evofuse=overrides, stream=True)
    assert streamed.status_code == 400  # refused before the stream starts, too
    assert streamed.json()["error"]["param"] == param


async def test_a_valid_override_runs_with_the_overridden_pool(api: Api) -> None:
    response = await api.chat(evofuse={"models": ["m1", "m3"], "judge": "j", "mode": "best-of"})
    assert response.status_code == 200, response.text
    evofuse = response.json()["evofuse"]
    assert evofuse["mode"] == "best-of"
    assert [c["model"] for c in evofuse["candidates"]] == ["m1", "m3"]
    assert sorted(r.model for r in api.upstream.requests) == ["j", "m1", "m3"]


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
async def test_best_of_returns_the_text_of_the_candidate_the_judge_picked(
    api: Api, seed: int
) -> None:
    # The judge prefers m3's answer wherever the seed's shuffle puts it on the ballot.
    api.upstream.script.models["j"] = ModelBehavior(kind="judge", prefer="Solo says")
    response = await api.chat(seed=seed, evofuse={"models": ["m1", "m3"], "mode": "best-of"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["evofuse"]["judge"]["winner"] == "m3"
    assert body["choices"][0]["message"]["content"] == "Solo says four."

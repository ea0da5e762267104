"""Typed fusion options: validated once; the model calls get exactly what was set."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from evofuse.config import FusionMode
from evofuse.config.loader import settings_from_mapping
from evofuse.errors import UserError
from evofuse.fusion import FusionEngine
from evofuse.options import FusionOptions, ModelSettings
from evofuse.runtime.context import EvoContext, parse_client_context
from evofuse.testing import JUDGE, ModelBehavior, ScriptedGateway, UpstreamScript

USER = [{"role": "user", "content": "What is 2 + 2?"}]


def settings(**profile: Any) -> Any:
    models = ("m1", "m2", "m3", "j")
    return settings_from_mapping(
        {
            "model_list": [
                {"model_name": m, "litellm_params": {"model": f"openai/{m}"}} for m in models
            ],
            "fusion": {
                "default_profile": "p",
                "profiles": {
                    "p": {"models": ["m1", "m2"], "judge": "j", "mode": "merge", **profile},
                    "solo": {"models": ["m3"], "mode": "single"},
                },
            },
        }
    )


def test_model_settings_give_only_what_is_set() -> None:
    assert ModelSettings().call_kwargs() == {}
    settings_ = ModelSettings(temperature=0.2, stop=("a", "b"), max_tokens=9)
    assert settings_.call_kwargs() == {"temperature": 0.2, "stop": ["a", "b"], "max_tokens": 9}
    judged = ModelSettings(response_format={"type": "json_object"}, drop_params=True)
    assert judged.call_kwargs() == {"response_format": {"type": "json_object"}, "drop_params": True}


@pytest.mark.parametrize(
    "values",
    [
        {"sampling": {"temperature": 3}},
        {"sampling": {"stop": ["1", "2", "3", "4", "5"]}},
        {"sampling": {"max_tokens": 0}},
        {"sampling": {"api_key": "sk-…"}},  # not a model setting: never passed through
        {"mode": "majority"},
        {"models": []},
        {"deadline_s": -1},
        {"surprise": 1},
    ],
)
def test_options_are_validated_where_they_are_made(values: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        FusionOptions.model_validate(values)
    with pytest.raises(UserError) as caught:
        FusionOptions.parse(values, where="evofuse")
    assert caught.value.param is not None and caught.value.param.startswith("evofuse")


def test_options_are_frozen() -> None:
    options = FusionOptions(seed=1)
    with pytest.raises(ValidationError):
        options.seed = 2  # type: ignore[misc]
    assert options.replace(mode="vote").mode is FusionMode.VOTE and options.mode is None


def test_profile_overrides_are_held_to_the_profile_rules() -> None:
    config = settings(quorum=2)
    assert config.profile("p").models == ["m1", "m2"]
    smaller = config.profile("p", models=["m3"])
    assert smaller.models == ["m3"] and smaller.quorum == 1  # a quorum the pool can reach
    with pytest.raises(UserError, match="m1 more than once") as twice:
        config.profile("p", models=["m1", "m1"])
    assert twice.value.param == "models"
    with pytest.raises(UserError, match="'ghost' is not a model_name") as unknown:
        config.profile("p", judge="ghost")
    assert unknown.value.param == "judge"
    with pytest.raises(UserError, match="needs a judge") as judgeless:
        config.profile("solo", mode=FusionMode.MERGE, models=["m1", "m2"])
    assert judgeless.value.param == "mode"


async def test_every_member_gets_the_settings_and_the_judge_its_own() -> None:
    script = UpstreamScript(
        models={"m1": ModelBehavior(content="4"), "m2": ModelBehavior(content="four"), "j": JUDGE}
    )
    gateway = ScriptedGateway(script)
    engine = FusionEngine(settings(), gateway=gateway)
    options = FusionOptions(seed=5, sampling=ModelSettings(temperature=0.3, top_p=0.9))
    result = await engine.run(USER, options)
    for member in ("m1", "m2"):
        [call] = gateway.requests_for(member)
        assert call.body["temperature"] == 0.3 and call.body["top_p"] == 0.9
        assert call.body["max_tokens"] == 1024  # the profile's cap when the call sets none
        assert "seed" not in call.body  # the seed shuffles the ballot, it is no model setting
    [judge] = gateway.requests_for("j")
    assert judge.body["temperature"] == 0 and "top_p" not in judge.body
    assert result.judge.seed == 5


def test_a_client_context_becomes_typed_options_or_a_clear_error() -> None:
    ctx = EvoContext(mode="best-of", models=["m1", "m3"], params={"temperature": 0.1})
    assert ctx.options.mode is FusionMode.BEST_OF and ctx.options.models == ("m1", "m3")
    assert ctx.options.sampling.temperature == 0.1
    with pytest.raises(UserError, match=r"Invalid run context: params\.api_base"):
        parse_client_context({"params": {"api_base": "http://elsewhere"}})
    with pytest.raises(UserError, match="Invalid run context: mode"):
        parse_client_context({"mode": "majority"})


async def test_python_callers_may_name_fields_as_keywords() -> None:
    script = UpstreamScript(
        models={"m1": ModelBehavior(content="4"), "m2": ModelBehavior(content="four"), "j": JUDGE}
    )
    engine = FusionEngine(settings(), gateway=ScriptedGateway(script))
    by_keyword = await engine.run(USER, mode="best-of", models=["m2"], seed=3)
    by_options = await engine.run(USER, FusionOptions(mode="best-of", models=("m2",), seed=3))
    assert (by_keyword.mode, by_keyword.content) == (by_options.mode, by_options.content)
    # keywords win over the options they are given with
    mixed = await engine.run(USER, FusionOptions(mode="merge"), mode="single")
    assert mixed.mode is FusionMode.SINGLE
    with pytest.raises(UserError, match=r"options\.mode") as caught:
        await engine.run(USER, mode="majority")
    assert caught.value.param == "options.mode"


def test_replace_says_what_was_wrong_as_a_user_error() -> None:
    with pytest.raises(UserError, match=r"step 'read'\.mode: .*\(got 'best-off'\)"):
        FusionOptions().replace(mode="best-off", where="step 'read'")

"""Modes vote and auto through POST /v1/chat/completions: the step says what ran and why."""

from __future__ import annotations

from tests.unit.api.conftest import Api


async def test_vote_calls_no_judge(api: Api) -> None:
    response = await api.chat(evofuse={"mode": "vote"})
    assert response.status_code == 200, response.text
    evofuse = response.json()["evofuse"]
    assert evofuse["mode"] == "vote" and evofuse["judge"]["status"] == "skipped"
    assert "j" not in {r.model for r in api.upstream.requests}
    assert evofuse["steps"][0]["mode_choice"] is None


async def test_auto_records_its_choice_and_reason(api: Api) -> None:
    response = await api.chat(evofuse={"mode": "auto"})
    assert response.status_code == 200, response.text
    [step] = response.json()["evofuse"]["steps"]
    # no ratings yet: the cheapest mode is tried first
    assert step["mode"] == "single" and step["mode_choice"]["mode"] == "single"
    assert step["mode_choice"]["reason"].startswith("exploring")
    assert {a["mode"] for a in step["mode_choice"]["arms"]} == {
        "single", "vote", "best-of", "merge", "debate",
    }  # fmt: skip

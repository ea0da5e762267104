"""GET /v1/models: the registry's graphs and the fusion profiles, as OpenAI model objects."""

from __future__ import annotations

from fastapi import APIRouter

from evofuse.api.deps import PrincipalDep, StateDep
from evofuse.api.errors import ApiError
from evofuse.api.fusion_graph import FUSION_PREFIX
from evofuse.api.schemas import ErrorResponse, ModelCard, ModelList
from evofuse.api.state import ApiState

router = APIRouter(tags=["models"])


def _cards(state: ApiState) -> list[ModelCard]:
    cards = [ModelCard(id=graph, kind="graph") for graph in state.runner.registry.ids]
    for name, profile in state.settings.fusion.profiles.items():
        cards.append(
            ModelCard(
                id=FUSION_PREFIX + name,
                kind="fusion",
                mode=profile.mode.value,
                members=list(profile.models),
                judge=profile.judge,
            )
        )
    return cards


@router.get("/v1/models", response_model=ModelList, responses={401: {"model": ErrorResponse}})
async def list_models(state: StateDep, _principal: PrincipalDep) -> ModelList:
    return ModelList(data=_cards(state))


@router.get(
    "/v1/models/{model_id:path}",
    response_model=ModelCard,
    responses={401: {"model": ErrorResponse}, 404: {"model": ErrorResponse}},
)
async def get_model(model_id: str, state: StateDep, _principal: PrincipalDep) -> ModelCard:
    for card in _cards(state):
        if card.id == model_id:
            return card
    raise ApiError(404, f"The model {model_id!r} does not exist.", code="model_not_found")

"""Typed dependencies of the routes: the shared state and the authenticated caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPBearer

from evofuse.api.auth import Principal, authenticate
from evofuse.api.state import ApiState

# Declares the scheme in the OpenAPI document; the header itself is checked by `principal`,
# which answers in OpenAI's error shape rather than FastAPI's.
bearer = HTTPBearer(auto_error=False, description="An EvoFuse API key: `evofuse keys create`")


def get_state(request: Request) -> ApiState:
    state = request.app.state.api
    assert isinstance(state, ApiState)
    return state


StateDep = Annotated[ApiState, Depends(get_state)]


async def get_principal(request: Request, state: StateDep) -> Principal:
    # async: one indexed SELECT is cheaper inline than a hop to the thread pool.
    return authenticate(
        state.store, request.headers.get("authorization"), enabled=state.auth_enabled
    )


PrincipalDep = Annotated[Principal, Depends(get_principal)]

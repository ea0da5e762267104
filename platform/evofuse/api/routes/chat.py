"""POST /v1/chat/completions."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from sse_starlette import EventSourceResponse
from starlette.background import BackgroundTask

from evofuse.api.chat import ChatService
from evofuse.api.deps import PrincipalDep, StateDep
from evofuse.api.schemas import ChatCompletion, ChatCompletionRequest, ErrorResponse

router = APIRouter(tags=["chat"])

_STREAM_DOC = (
    "With `stream: true`: `text/event-stream` of `chat.completion.chunk` objects; the last one "
    "before `data: [DONE]` carries the `evofuse` object. An error after the stream started "
    'arrives as `data: {"error": {...}}`.'
)
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "Invalid or unsupported parameters"},
    401: {"model": ErrorResponse, "description": "No or bad API key"},
    404: {"model": ErrorResponse, "description": "Unknown graph, profile or skill"},
    413: {"model": ErrorResponse, "description": "Body over api.max_body_bytes"},
    429: {"model": ErrorResponse, "description": "Rate limit or daily budget reached"},
    502: {"model": ErrorResponse, "description": "Every pool member failed"},
    504: {"model": ErrorResponse, "description": "The deadline passed"},
}


@router.post(
    "/v1/chat/completions",
    response_model=ChatCompletion,
    responses={
        **_ERRORS,
        200: {
            # Each `data:` is a chunk object, the last one `[DONE]`: no one schema fits all.
            "content": {"text/event-stream": {"schema": {}}},
            "description": "A ChatCompletion, or a stream of chunks. " + _STREAM_DOC,
        },
    },
    summary="Create a chat completion (OpenAI-compatible)",
)
async def chat_completions(
    body: ChatCompletionRequest, request: Request, state: StateDep, principal: PrincipalDep
) -> Response:
    """`model` is a graph id (`assistant`, …) or `fusion/<profile>`; see GET /v1/models."""
    service = ChatService(state)
    job = await service.prepare(body, principal)
    headers = {"X-EvoFuse-Run-Id": job.run_id}
    if body.stream:
        return EventSourceResponse(
            service.stream(job),
            sep="\n",
            headers=headers,
            # A stream cut before its generator ran still settles the key's budget.
            background=BackgroundTask(service.abandon, job),
        )
    completion = await service.complete(job, request.receive)
    if completion is None:
        return Response(status_code=499)  # the client is gone; nobody reads this
    return JSONResponse(completion.model_dump(mode="json"), headers=headers)

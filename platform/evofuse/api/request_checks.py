"""Caps and character checks on a parsed request, before anything is stored or sent to a model.

The body's size is capped earlier, before parsing (`evofuse.api.body_limit`); these checks count
what the body holds: messages, characters per message, an estimate of the prompt's tokens, and
characters that cannot be stored or have no place in a prompt.
"""

from __future__ import annotations

from pydantic import BaseModel

from evofuse.api.errors import ApiError
from evofuse.api.schemas import ChatCompletionRequest, ChatMessage
from evofuse.config.governance import ApiSettings
from evofuse.errors import UnsafeTextError
from evofuse.textcheck import check_all, estimate_tokens


def check_chat_request(request: ChatCompletionRequest, caps: ApiSettings) -> None:
    """Raise a 400 in OpenAI's shape for a request over a cap or with unsafe characters."""
    if len(request.messages) > caps.max_messages:
        raise ApiError(
            400,
            f"This request has {len(request.messages)} messages; the limit is "
            f"{caps.max_messages} (api.max_messages). Send fewer messages, e.g. summarize "
            "the older part of the conversation.",
            code="too_many_messages",
            param="messages",
        )
    total = 0
    for i, message in enumerate(request.messages):
        chars = message_chars(message)
        if chars > caps.max_message_chars:
            raise ApiError(
                400,
                f"messages[{i}] has {chars} characters; the limit is {caps.max_message_chars} "
                "per message (api.max_message_chars). Shorten it or split the work.",
                code="message_too_long",
                param=f"messages[{i}].content",
            )
        total += chars
    tokens = estimate_tokens(total)
    if tokens > caps.max_prompt_tokens:
        raise ApiError(
            400,
            f"The messages come to about {tokens} tokens; the limit is {caps.max_prompt_tokens} "
            "(api.max_prompt_tokens, estimated at 4 characters per token). Shorten the "
            "conversation.",
            code="context_length_exceeded",
            param="messages",
        )
    refuse_unsafe_text(request)


def refuse_unsafe_text(body: BaseModel) -> None:
    """Every string of a request body (field values and keys), checked for unsafe characters."""
    try:
        check_all(body.model_dump(mode="python", exclude_none=True))
    except UnsafeTextError as exc:
        raise ApiError(400, f"{exc.message} {exc.hint}", code=exc.code, param=exc.where) from None


def message_chars(message: ChatMessage) -> int:
    """Characters of a message's text: its content, text parts, tool-call arguments."""
    chars = 0
    if isinstance(message.content, str):
        chars += len(message.content)
    elif message.content:
        chars += sum(len(getattr(part, "text", "")) for part in message.content)
    for call in message.tool_calls or ():
        chars += len(call.function.arguments)
    return chars

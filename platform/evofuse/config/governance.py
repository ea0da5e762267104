"""`api:`, `privacy:` and the retention keys of `storage:`: limits on what a request may carry,
who may read metrics, what a tenant shares, and how long run text is kept."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ApiSettings(_Strict):
    """`api:`: request caps (checked before anything is parsed, stored or sent to a model)."""

    # The whole request body, Content-Length or not (chunked bodies are counted as they arrive).
    max_body_bytes: int = Field(default=4_000_000, ge=1024)
    max_messages: int = Field(default=256, ge=1)
    # Characters of one message's text (all its text parts together).
    max_message_chars: int = Field(default=200_000, ge=1)
    # An estimate (about 4 characters per token), so a request the pool's context windows cannot
    # take is refused before every member and the judge are paid to say so.
    max_prompt_tokens: int = Field(default=100_000, ge=1)
    # When set, GET /metrics needs `Authorization: Bearer <metrics_token>`.
    metrics_token: str | None = Field(default=None, min_length=16)
    # Browser origins allowed to call the API (CORS); empty = no CORS headers at all.
    cors_origins: list[str] = Field(default_factory=list)


class TenantPrivacy(_Strict):
    share_with_global: bool | None = None  # None: the deployment's default


class PrivacySettings(_Strict):
    """`privacy:`: what a tenant's runs may teach everyone else.

    A tenant that does not share has its runs, feedback and tasks kept out of the evidence for
    global skills and out of the Extractor (which writes global skills); its own tenant skills
    still evolve from its own runs.
    """

    share_with_global: bool = True
    tenants: dict[str, TenantPrivacy] = Field(default_factory=dict)
    # `users forget`: a version whose remaining support drops below
    # `evolution.min_distinct_users` is retired, unless it has served for longer than this:
    # then it is flagged for review in the audit log (retiring a long-proven version could
    # hurt every user of it more than the lost support justifies).
    forget_review_after_days: float = Field(default=30.0, ge=0)

    def shares(self, tenant: str) -> bool:
        own = self.tenants.get(tenant)
        if own is not None and own.share_with_global is not None:
            return own.share_with_global
        return self.share_with_global


class RetentionMode(StrEnum):
    DELETE = "delete"  # the run and its steps, candidates, verdicts and feedback go
    SCRUB = "scrub"  # the rows stay with their numbers; every text field is emptied

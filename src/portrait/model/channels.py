"""Channel configurations: ``[channels.NAME]`` tables of ``portrait.toml``, one class per
``type`` (the implementation lives in :mod:`portrait.campaigns.channels`)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

_URL = re.compile(r"^https?://[^\s/]+", re.IGNORECASE)


class _Channel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    #: the tag whose value is the address (phone, e-mail) sent with each message
    address_tag: str | None = None
    #: messages per batch; default: the setting campaigns.batch_size
    batch_size: int | None = Field(default=None, ge=1, le=1_000_000)
    #: messages per second at most, whatever the campaign asks (a vendor's limit)
    rate_limit: float | None = Field(default=None, gt=0)


class FileChannel(_Channel):
    """JSON-lines outbox files, one per batch: for hand-off to another system, and tests."""

    type: Literal["file"] = "file"
    folder: str | None = None  # default: campaigns/outbox in the workspace
    batch_size: int | None = Field(default=10_000, ge=1, le=1_000_000)  # one file each


class WebhookChannel(_Channel):
    """Batches POSTed as JSON to ``url``; the body is HMAC-SHA256 signed with the secret read
    from the environment variable ``secret_env``."""

    type: Literal["webhook"] = "webhook"
    url: str
    secret_env: str | None = None
    timeout: float = Field(default=10.0, gt=0, le=300)
    headers: dict[str, str] = Field(default_factory=dict)

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        if not _URL.match(value):
            raise ValueError(f"'{value}' is not an http:// or https:// URL")
        return value


class SmtpChannel(_Channel):
    """E-mail through an SMTP server; ``address_tag`` names the e-mail tag."""

    type: Literal["smtp"] = "smtp"
    address_tag: str
    host: str
    port: int = Field(default=25, ge=1, le=65535)
    sender: str
    starttls: bool = False
    username_env: str | None = None
    password_env: str | None = None
    timeout: float = Field(default=10.0, gt=0, le=300)


ChannelConfig = Annotated[FileChannel | WebhookChannel | SmtpChannel, Field(discriminator="type")]

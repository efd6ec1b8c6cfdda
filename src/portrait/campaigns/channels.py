"""Channels: where messages go. One small interface, three implementations.

A channel receives a batch of messages under a stable batch key (campaign, run, batch) and
either delivers all of it or raises :class:`DeliveryFailed` (``permanent`` when retrying
cannot help). Sending the same key twice must not deliver twice: the file channel keeps the
first file, the webhook channel sends the key as ``Idempotency-Key`` (with per-message ids) so
the receiver can drop a repeat, and SMTP sets a deterministic ``Message-ID``. That is how a
campaign killed between "sent" and "recorded" resumes without duplicates.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import os
import re
import smtplib
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Protocol

from portrait.model.channels import FileChannel, SmtpChannel, WebhookChannel
from portrait.store.versions import plain_file_mode


@dataclass(frozen=True, slots=True)
class Message:
    message_id: str
    campaign: str
    run: int
    user_id: str
    variant: str
    text: str
    subject: str | None = None
    to: str | None = None

    def json_object(self) -> str:
        """The message as one JSON object. Texts repeat across users (rendering depends only
        on the values a template reads), so their escaped forms are cached; this is most of
        the cost of writing a large outbox."""
        return (
            f'{{"message_id": {_json(self.message_id)}, {_head(self.campaign, self.run)}, '
            f'"user_id": {_json(self.user_id)}, {_tail(self.variant, self.text, self.subject)}, '
            f'"to": {_json(self.to)}}}'
        )

    def to_dict(self) -> dict[str, Any]:
        # not dataclasses.asdict: that deep-copies every field, a third of a large send's time
        return {
            "message_id": self.message_id,
            "campaign": self.campaign,
            "run": self.run,
            "user_id": self.user_id,
            "variant": self.variant,
            "text": self.text,
            "subject": self.subject,
            "to": self.to,
        }


_PLAIN = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]*")  # printable ASCII but " and \


def _json(value: str | None) -> str:
    """``json.dumps(value, ensure_ascii=False)``, without the call for plain ids."""
    if value is None:
        return "null"
    if _PLAIN.fullmatch(value):
        return f'"{value}"'
    return json.dumps(value, ensure_ascii=False)


@functools.lru_cache(maxsize=1000)
def _head(campaign: str, run: int) -> str:
    return f'"campaign": {_json(campaign)}, "run": {run}'


@functools.lru_cache(maxsize=100_000)
def _tail(variant: str, text: str, subject: str | None) -> str:
    return f'"variant": {_json(variant)}, "text": {_json(text)}, "subject": {_json(subject)}'


class DeliveryFailed(Exception):
    """A batch was not delivered; ``permanent`` when the receiver refused it (4xx)."""

    def __init__(self, message: str, *, permanent: bool):
        super().__init__(message)
        self.permanent = permanent


class Channel(Protocol):
    name: str

    def start(self, campaign: str, run: int) -> None:
        """Called before a run's batches go out, a resumed run's too (one launch of a
        campaign at a time holds its lock): tidy what a killed launch left."""
        ...

    def send(self, key: str, messages: Sequence[Message]) -> None: ...

    def close(self) -> None: ...


TEMP_PREFIX, TEMP_SUFFIX = ".batch-", ".tmp"


class FileOutbox:
    """``<folder>/<campaign>/run-<n>/batch-<first uid>.jsonl``, each file written whole (temp
    ``.batch-*.tmp`` + rename). A launch killed while writing leaves its temp file behind;
    the next launch of the run removes it (:meth:`start`) before sending on, so whoever
    picks up the outbox only ever sees whole batches."""

    def __init__(self, name: str, folder: Path):
        self.name = name
        self.folder = folder

    def run_folder(self, campaign: str, run: int) -> Path:
        return self.folder / campaign / f"run-{run:04d}"

    def path(self, key: str) -> Path:
        campaign, run, batch = key.split(":")
        # a batch is named by its first uid: files sort in send order
        return self.run_folder(campaign, int(run)) / f"batch-{int(batch):010d}.jsonl"

    def start(self, campaign: str, run: int) -> None:
        """Remove the run's temp files: a batch being written when its launch was killed.
        Its records are still pending, so the batch is written again, whole."""
        folder = self.run_folder(campaign, run)
        if folder.is_dir():
            for stale in folder.glob(f"{TEMP_PREFIX}*{TEMP_SUFFIX}"):
                stale.unlink(missing_ok=True)

    def send(self, key: str, messages: Sequence[Message]) -> None:
        target = self.path(key)
        if target.exists():  # delivered before a crash: never twice
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        body = "".join(m.json_object() + "\n" for m in messages)
        fd, temp = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX, dir=target.parent)
        try:
            os.fchmod(fd, plain_file_mode())  # for whoever picks the outbox up, as open() would
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(body)
                out.flush()
                os.fsync(out.fileno())
            Path(temp).replace(target)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise

    def close(self) -> None:
        return None


class Webhook:
    """POST ``{"batch": key, "messages": [...]}``; retries 5xx, timeouts and refused
    connections with exponential backoff (0.5 s, 1 s, 2 s, …), gives up at once on 4xx."""

    def __init__(
        self,
        name: str,
        config: WebhookChannel,
        attempts: int,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ):
        import httpx

        self.name = name
        self.config = config
        self.attempts = max(1, attempts)
        self.sleep = sleep
        secret = os.environ.get(config.secret_env, "") if config.secret_env else ""
        if config.secret_env and not secret:
            raise DeliveryFailed(
                f"channel '{name}': environment variable {config.secret_env} (the signing "
                "secret) is not set",
                permanent=True,
            )
        self.secret = secret.encode()
        self.client = httpx.Client(timeout=config.timeout)

    def start(self, campaign: str, run: int) -> None:
        return None  # nothing kept here: the receiver drops repeated keys

    def send(self, key: str, messages: Sequence[Message]) -> None:
        import httpx

        listed = ", ".join(m.json_object() for m in messages)
        body = f'{{"batch": {_json(key)}, "messages": [{listed}]}}'.encode()
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": key,
            **self.config.headers,
        }
        if self.secret:
            digest = hmac.new(self.secret, body, hashlib.sha256).hexdigest()
            headers["X-Portrait-Signature"] = f"sha256={digest}"
        problem = ""
        for attempt in range(self.attempts):
            if attempt:
                self.sleep(min(0.5 * 2 ** (attempt - 1), 30.0))
            try:
                response = self.client.post(self.config.url, content=body, headers=headers)
            except httpx.HTTPError as exc:  # refused, reset, timed out: try again
                problem = f"{type(exc).__name__}: {exc}"
                continue
            if response.status_code < 300:
                return
            problem = f"HTTP {response.status_code}: {response.text[:200]}"
            if 400 <= response.status_code < 500 and response.status_code not in (408, 429):
                raise DeliveryFailed(
                    f"{self.config.url} refused the batch: {problem}", permanent=True
                )
        raise DeliveryFailed(
            f"{self.config.url} did not take the batch after {self.attempts} tries: {problem}",
            permanent=False,
        )

    def close(self) -> None:
        self.client.close()


class Smtp:
    """One e-mail per message through an SMTP server (Message-ID = the message id)."""

    def __init__(self, name: str, config: SmtpChannel, attempts: int):
        self.name = name
        self.config = config
        self.attempts = max(1, attempts)

    def start(self, campaign: str, run: int) -> None:
        return None

    def send(self, key: str, messages: Sequence[Message]) -> None:
        config = self.config
        try:
            with smtplib.SMTP(config.host, config.port, timeout=config.timeout) as server:
                if config.starttls:
                    server.starttls()
                if config.username_env:
                    server.login(
                        os.environ.get(config.username_env, ""),
                        os.environ.get(config.password_env or "", ""),
                    )
                for m in messages:
                    if not m.to:
                        continue  # no address: recorded as failed by the caller
                    mail = EmailMessage()
                    mail["From"] = config.sender
                    mail["To"] = m.to
                    mail["Subject"] = m.subject or m.campaign
                    mail["Message-ID"] = f"<{m.message_id.replace(':', '.')}@portrait>"
                    mail.set_content(m.text)
                    server.send_message(mail)
        except smtplib.SMTPRecipientsRefused as exc:
            raise DeliveryFailed(f"SMTP refused recipients: {exc}", permanent=True) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryFailed(
                f"SMTP {config.host}:{config.port}: {exc}", permanent=False
            ) from None

    def close(self) -> None:
        return None


def open_channel(name: str, config: Any, *, outbox: Path, attempts: int) -> Channel:
    """The channel implementation for a checked configuration."""
    if isinstance(config, FileChannel):
        return FileOutbox(name, Path(config.folder) if config.folder else outbox)
    if isinstance(config, WebhookChannel):
        return Webhook(name, config, attempts)
    if isinstance(config, SmtpChannel):
        return Smtp(name, config, attempts)
    raise AssertionError(config)

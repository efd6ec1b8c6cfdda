"""The e-mail channel against a real SMTP server (aiosmtpd on 127.0.0.1)."""

from __future__ import annotations

import email
import socket
from email import policy
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

import portrait
from portrait.workspace import Workspace


class Inbox:
    def __init__(self) -> None:
        self.mails: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.mails.append(
            (envelope.rcpt_tos, email.message_from_bytes(envelope.content, policy=policy.default))
        )
        return "250 OK"


def test_smtp_channel_sends_one_mail_per_user(demo_ws: Workspace) -> None:
    inbox = Inbox()
    with socket.socket() as probe:  # a free port (the controller checks it by connecting)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        toml = Path(demo_ws.root) / "portrait.toml"
        toml.write_text(
            "[channels.mail]\n"
            'type = "smtp"\nhost = "127.0.0.1"\n'
            f"port = {port}\n"
            'sender = "news@shop.example"\naddress_tag = "email"\n',
            encoding="utf-8",
        )
        ws = portrait.open(demo_ws.root)
        campaigns = ws.campaigns()
        campaigns.create(
            {
                "name": "mail",
                "audience": "age between 30 and 31",
                "channel": "mail",
                "control": 20,
                "variants": [
                    {
                        "name": "A",
                        "weight": 80,
                        "subject": "{{ city }} 会员日",
                        "template": "你好 {{ user_id }}，本周会员日 8 折。",
                    }
                ],
            }
        )
        report = campaigns.launch("mail")
    finally:
        controller.stop()
    emails = ws.profile(["email"], unmask=True).to_pandas().set_index("user_id")["email"]
    sent = set(ws.select('campaign("mail", "sent")').ids())
    assert report.state == "completed" and report.sent == len(sent) > 0
    assert len(inbox.mails) == report.sent  # one mail per user, none twice
    seen = set()
    for recipients, mail in inbox.mails:
        user_id = mail.get_content().split("你好 ")[1].split("，")[0]
        assert user_id in sent and user_id not in seen
        seen.add(user_id)
        assert recipients == [emails[user_id]]
        assert mail["From"] == "news@shop.example"
        assert mail["Subject"].endswith(" 会员日")
        assert mail["Message-ID"] == f"<mail.1.{user_id}@portrait>"
    assert seen == sent

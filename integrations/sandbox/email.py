"""The sandbox's email: each message written as an `.eml` file under the outbox directory
(`./var/outbox` by default), for people to open and for the ops dashboard to list."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path

from integrations.ports.notifications import EmailMessage, build_mime

SENDER = "SureFlights sandbox <no-reply@sandbox.invalid>"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True, slots=True)
class WrittenEmail:
    name: str
    to: str
    subject: str
    written_at: datetime
    size: int


class OutboxDirectory:
    def __init__(self, directory: Path, sender: str = SENDER) -> None:
        self.directory = directory
        self.sender = sender

    async def send(self, message: EmailMessage) -> str:
        mime = build_mime(message, self.sender)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        name = f"{stamp}-{_UNSAFE.sub('_', message.message_id.strip('<>'))[:80]}.eml"
        await asyncio.to_thread(self._write, name, mime.as_bytes())
        return message.message_id

    def _write(self, name: str, content: bytes) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        partial = self.directory / f".{name}.partial"
        partial.write_bytes(content)
        partial.replace(self.directory / name)  # whole files only, for readers

    def list(self, limit: int = 50) -> list[WrittenEmail]:
        """The latest messages first."""
        if not self.directory.is_dir():
            return []
        files = sorted(self.directory.glob("*.eml"), reverse=True)[:limit]
        written = []
        for path in files:
            content = path.read_bytes()
            parsed = message_from_bytes(content, policy=policy.default)
            written.append(
                WrittenEmail(
                    name=path.name,
                    to=str(parsed["To"] or ""),
                    subject=str(parsed["Subject"] or ""),
                    written_at=datetime.fromtimestamp(path.stat().st_mtime, UTC),
                    size=len(content),
                )
            )
        return written

    def read(self, name: str) -> bytes | None:
        """One message's `.eml` bytes by its file name; None when there is no such file."""
        if Path(name).name != name or not name.endswith(".eml"):
            return None
        path = self.directory / name
        return path.read_bytes() if path.is_file() else None

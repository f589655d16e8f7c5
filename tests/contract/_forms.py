"""Form bodies for the Chinese channels' contract servers, parsed from the raw bytes (the
fault middleware has already read the stream, so ``request.post()`` cannot see a multipart
body any more)."""

from __future__ import annotations

from dataclasses import dataclass
from email.parser import BytesParser
from email.policy import HTTP
from urllib.parse import parse_qsl

from aiohttp import web

__all__ = ["Upload", "read_form"]


@dataclass(frozen=True)
class Upload:
    filename: str
    content_type: str
    data: bytes


async def read_form(request: web.Request) -> dict[str, str | Upload]:
    """Fields of a urlencoded or multipart body; files as `Upload`."""
    raw = await request.read()
    if request.content_type == "application/x-www-form-urlencoded":
        return dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
    if request.content_type != "multipart/form-data":
        return {}
    head = f"Content-Type: {request.headers['Content-Type']}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + raw)
    fields: dict[str, str | Upload] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if not isinstance(name, str) or not isinstance(payload, bytes):
            continue
        filename = part.get_filename()
        if filename is None:
            fields[name] = payload.decode("utf-8")
        else:
            fields[name] = Upload(filename, part.get_content_type(), payload)
    return fields

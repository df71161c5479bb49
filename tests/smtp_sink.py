"""A tiny SMTP server on loopback that keeps every message it is given (for the alert tests).

It speaks just enough SMTP for smtplib: EHLO/HELO, AUTH PLAIN and LOGIN, MAIL,
RCPT, DATA (with dot-unstuffing), RSET, NOOP, QUIT. No TLS.
"""

from __future__ import annotations

import base64
import socketserver
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage


@dataclass
class Received:
    sender: str
    recipients: list[str]
    message: EmailMessage
    login: str | None = None


@dataclass
class _State:
    messages: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(socketserver.StreamRequestHandler):
    def _send(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")
        self.wfile.flush()

    def _line(self) -> str:
        return self.rfile.readline().decode("utf-8", "replace").rstrip("\r\n")

    def handle(self) -> None:
        state: _State = self.server.state  # type: ignore[attr-defined]
        sender, recipients, login = "", [], None
        self._send("220 nns-test-sink ESMTP")
        while True:
            line = self._line()
            if not line:
                return
            verb = line.split(" ", 1)[0].upper()
            argument = line[len(verb):].strip()
            if verb == "EHLO":
                self._send("250-nns-test-sink")
                self._send("250-AUTH PLAIN LOGIN")
                self._send("250 8BITMIME")
            elif verb == "HELO":
                self._send("250 nns-test-sink")
            elif verb == "AUTH":
                mechanism, _, initial = argument.partition(" ")
                if mechanism.upper() == "PLAIN":
                    if not initial:
                        self._send("334 ")
                        initial = self._line()
                    login = base64.b64decode(initial).split(b"\0")[1].decode()
                else:  # LOGIN
                    self._send("334 VXNlcm5hbWU6")
                    login = base64.b64decode(self._line()).decode()
                    self._send("334 UGFzc3dvcmQ6")
                    self._line()
                self._send("235 2.7.0 Authentication successful")
            elif verb == "MAIL":
                sender, recipients = argument.split(":", 1)[1].strip().split()[0].strip("<>"), []
                self._send("250 OK")
            elif verb == "RCPT":
                recipients.append(argument.split(":", 1)[1].strip().strip("<>"))
                self._send("250 OK")
            elif verb == "DATA":
                self._send("354 End data with <CR><LF>.<CR><LF>")
                body = []
                while (raw := self.rfile.readline()) not in (b".\r\n", b""):
                    body.append(raw[1:] if raw.startswith(b"..") else raw)
                message = message_from_bytes(b"".join(body), policy=policy.default)
                with state.lock:
                    state.messages.append(Received(sender, recipients, message, login))
                self._send("250 OK: queued")
            elif verb in ("RSET", "NOOP"):
                self._send("250 OK")
            elif verb == "QUIT":
                self._send("221 Bye")
                return
            else:
                self._send("502 Command not implemented")


class SmtpSink:
    """with SmtpSink() as sink: ... sink.port ... sink.messages"""

    def __init__(self):
        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.state = _State()  # type: ignore[attr-defined]
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def messages(self) -> list[Received]:
        with self._server.state.lock:  # type: ignore[attr-defined]
            return list(self._server.state.messages)  # type: ignore[attr-defined]

    def __enter__(self) -> SmtpSink:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._server.shutdown()
        self._server.server_close()

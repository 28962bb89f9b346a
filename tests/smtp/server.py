"""The SMTP server the notification tests start (tests/it/notify.rs): aiosmtpd, the
asyncio SMTP server of aio-libs, installed by scripts/services.sh.

    python3 tests/smtp/server.py HOST PORT MAILBOX

Listens on HOST:PORT and appends every message it accepts to MAILBOX, one JSON object
per line (the envelope, and the message as read by Python's own e-mail parser: its
Message-ID, To, Subject and plain-text body, decoded), flushed before the server answers
250, so a test that reads the file after the answer sees the message.
"""

import asyncio
import json
import signal
import sys
from email import message_from_bytes, policy

from aiosmtpd.controller import Controller


class Record:
    def __init__(self, path):
        self.path = path

    async def handle_DATA(self, server, session, envelope):
        message = message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        body = message.get_body(preferencelist=("plain",))
        entry = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "message_id": message["Message-ID"],
            "from": str(message["From"]),
            "to": str(message["To"]),
            "subject": str(message["Subject"]),
            "content_type": message.get_content_type(),
            "text": body.get_content() if body is not None else None,
        }
        with open(self.path, "a", encoding="utf-8") as out:
            out.write(json.dumps(entry, ensure_ascii=False) + "\n")
            out.flush()
        return "250 Message accepted for delivery"


def main():
    host, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    controller = Controller(Record(path), hostname=host, port=port)
    controller.start()
    print(f"aiosmtpd listening on {host}:{port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.new_event_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.run_until_complete(stop.wait())
    controller.stop()


if __name__ == "__main__":
    main()

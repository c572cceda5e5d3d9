"""A local SMTP server (aiosmtpd) for the outbox benchmark, run as its own process:
`python -m bench.smtp_sink PORT LOG`. Each message accepted appends its recipient and
X-Bench-Seq header to LOG, one line each, so the benchmark can count lost and doubled ones."""
from __future__ import annotations

import re
import signal
import sys
import threading

from aiosmtpd.controller import Controller

SEQ = re.compile(rb"^X-Bench-Seq: *(\S+)", re.M)


class Sink:
    def __init__(self, log) -> None:  # type: ignore[no-untyped-def]
        self.log = log

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]  # noqa: N802
        match = SEQ.search(envelope.original_content)
        seq = match.group(1).decode() if match else "-"
        for rcpt in envelope.rcpt_tos:
            self.log.write(f"{rcpt} {seq}\n")
        return "250 OK"


def main() -> None:
    port, path = int(sys.argv[1]), sys.argv[2]
    with open(path, "a", buffering=1) as log:
        controller = Controller(Sink(log), hostname="127.0.0.1", port=port)
        controller.start()
        print("ready", flush=True)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        stop.wait()
        controller.stop()


if __name__ == "__main__":
    main()

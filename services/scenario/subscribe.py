"""Print NATS messages as they arrive (the demo's "look around" helper)::

    python -m services.scenario.subscribe nats://127.0.0.1:4222 'ripple.v1.events.>'
    python -m services.scenario.subscribe .demo/nats/credentials.json 'ripple.v1.events.>'

The first argument is a NATS URL (credentials may be inside: ``nats://user:pw@host:port``)
or the ``credentials.json`` of a secure stack (its ``admin_url`` is used). One line per
message: the subject, then the payload (JSON compacted, cut at 400 characters). Ctrl-C stops
it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys


def _show(data: bytes, limit: int = 400) -> str:
    text = data.decode("utf-8", errors="replace")
    with contextlib.suppress(ValueError):
        text = json.dumps(json.loads(text), separators=(",", ":"), sort_keys=False)
    return text if len(text) <= limit else text[: limit - 3] + "..."


async def subscribe(url: str, subject: str) -> None:
    import nats
    from nats.aio.msg import Msg

    nc = await nats.connect(url)

    async def on_message(msg: Msg) -> None:
        print(f"{msg.subject} {_show(msg.data)}", flush=True)

    await nc.subscribe(subject, cb=on_message)
    where = url.rpartition("@")[2]  # never print a password
    print(f"subscribed to {subject} on {where} (Ctrl-C stops)", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await nc.close()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if args else 2
    url, subject = args[0], (args[1] if len(args) > 1 else "ripple.v1.>")
    if url.endswith(".json"):
        with open(url, encoding="utf-8") as fh:
            url = str(json.load(fh)["admin_url"])
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(subscribe(url, subject))
    return 0


if __name__ == "__main__":
    sys.exit(main())

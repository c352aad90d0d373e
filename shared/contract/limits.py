"""Size limits of the contract.

:data:`MAX_PAYLOAD` is the NATS ``max_payload`` of the server and the ``max_msg_size`` of
every stream and bucket (headers + body). An envelope body is limited to
:data:`MAX_MESSAGE_BYTES`, which leaves :data:`HEADER_ALLOWANCE` for headers
(``Nats-Msg-Id``, KV operation headers)."""

from __future__ import annotations

MAX_PAYLOAD = 4 * 1024 * 1024
HEADER_ALLOWANCE = 16 * 1024
MAX_MESSAGE_BYTES = MAX_PAYLOAD - HEADER_ALLOWANCE

"""uvicorn's HTTP/1.1 protocol with a deadline for request headers.

uvicorn closes idle keep-alive connections (`timeout_keep_alive`), but any
byte received cancels that timer, and nothing times out a client that
connects and sends its headers slowly, or never: such connections stay open
for as long as the client likes. `header_timeout_protocol` returns uvicorn's
own h11 protocol with one addition: from the moment a connection is ready
for a request (accepted, or its previous response sent), the request's
headers must be complete within `header_timeout_s`, else the connection is
closed. Bodies have their own deadline in the app (`body_timeout_s`).

This subclasses a uvicorn class and uses its attributes `loop`,
`transport` and `cycle`; checked with uvicorn 0.54.0 and h11 0.16.0
(tests/serving/test_hostile_clients.py exercises it).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol


class _HeaderTimeoutProtocol(H11Protocol):
    header_timeout_s = 10.0
    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._arm_header_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def _arm_header_timer(self) -> None:
        self._cancel_header_timer()
        if not self.transport.is_closing():
            self._header_timer = self.loop.call_later(
                self.header_timeout_s, self._on_header_timeout
            )

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _on_header_timeout(self) -> None:
        self._header_timer = None
        # A request whose headers arrived is in progress: not ours to stop.
        waiting = self.cycle is None or self.cycle.response_complete
        if waiting and not self.transport.is_closing():
            self.transport.close()


def header_timeout_protocol(header_timeout_s: float) -> type:
    """uvicorn's h11 protocol class closing connections whose request
    headers take over `header_timeout_s` (pass it as `uvicorn.Config`'s
    `http`)."""
    return type(
        "HeaderTimeoutH11Protocol",
        (_HeaderTimeoutProtocol,),
        {"header_timeout_s": header_timeout_s},
    )

"""The floor of an HTTP API call: a bare FastAPI + pydantic JSON route on uvicorn, with
the same server settings as ``ringpush serve`` (run as its own process by the benchmarks).

    python -m bench.bare_route   # prints the port, serves until SIGTERM
"""

from __future__ import annotations

import asyncio
import signal

from fastapi import FastAPI
from pydantic import BaseModel, Field

from ringpush.event_loop import runner as event_loop_runner
from ringpush.server.embedded import EmbeddedHttpServer


class CallIn(BaseModel):
    caller_id: str = Field(min_length=1, max_length=256)
    callee_user_id: str
    caller_name: str = ""
    video: bool = False
    data: dict[str, object] = Field(default_factory=dict)


class CallOut(BaseModel):
    call_id: str
    state: str
    callee_user_id: str
    deliveries: list[dict[str, object]]


def create() -> FastAPI:
    api = FastAPI()

    @api.post("/v1/calls", status_code=201)
    async def call(body: CallIn) -> CallOut:
        return CallOut(call_id="c", state="ringing", callee_user_id=body.callee_user_id,
                       deliveries=[])  # fmt: skip

    return api


async def main() -> None:
    server = EmbeddedHttpServer(create())
    port = await server.start("127.0.0.1", 0)
    print(port, flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await server.stop()


if __name__ == "__main__":
    event_loop_runner()(main())

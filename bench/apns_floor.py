"""The floor of sending a call's pushes: ringpush's own APNs client sending VoIP pushes
one call at a time, at a steady rate, to a sandbox in another process. Prints the
client's CPU time per push (this process alone) as JSON.

    python -m bench.apns_floor --url https://127.0.0.1:P --ca ca.pem --key K.p8:KID:TEAM
        --rate 300 --seconds 10 --devices 1
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

import httpx

from ringpush.apns.client import ApnsClient
from ringpush.apns.credentials import TokenCredentials
from ringpush.apns.environment import Environment
from ringpush.apns.notification import Notification
from ringpush.event_loop import runner as event_loop_runner

BUNDLE = "com.example.bench"
PAYLOAD = (
    b'{"aps":{},"ringpush":{"type":"incoming-call","call_id":"3f1c2a9e-5b7d-4c1e-9a2b-8d7e6f5a4b3c",'
    b'"caller":{"id":"alice","name":""},"video":false,"sent_at":1800000000000,'
    b'"ring_until":1800000060000}}'
)


async def main(args: argparse.Namespace) -> None:
    path, key_id, team_id = args.key.split(":")
    credentials = TokenCredentials.from_p8_file(Path(path), key_id, team_id)
    tokens = []
    async with httpx.AsyncClient(base_url=args.control) as control:
        for _ in range(args.devices * 50):
            answer = await control.post(
                "/tokens",
                json={"bundle_id": BUNDLE, "push_type": "voip", "environment": "development"},
            )
            tokens.append(answer.json()["token"])
    async with ApnsClient(
        credentials, Environment.DEVELOPMENT, base_url=args.url, ca_file=args.ca
    ) as client:
        for token in tokens[:3]:  # warm: connection up, stream limit raised
            await client.send(Notification.voip(BUNDLE, token, PAYLOAD))
        total = int(args.rate * args.seconds)
        tasks = []
        cpu, t0 = time.process_time(), time.perf_counter()
        for i in range(total):
            delay = t0 + i / args.rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            # One call: every device of the callee at once.
            batch = [
                Notification.voip(BUNDLE, tokens[(i * args.devices + d) % len(tokens)], PAYLOAD)
                for d in range(args.devices)
            ]
            tasks.append(asyncio.ensure_future(client.send_many(batch)))
        results = [r for batch in await asyncio.gather(*tasks) for r in batch]
        used = time.process_time() - cpu
    sent = sum(1 for r in results if r.sent)
    print(
        json.dumps(
            {"pushes": len(results), "sent": sent, "cpu_ms_per_push": used / len(results) * 1000}
        )
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--control", required=True)
    parser.add_argument("--ca", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--rate", type=float, default=300)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--devices", type=int, default=1)
    event_loop_runner()(main(parser.parse_args()))

"""The vet-clinic AppointmentService over gRPC (``appointments.proto`` beside this file).

``Book`` answers after one service time of the sample service's ``/appointments/book`` and ``WatchSlots``
streams ``count`` slots (default 5), one every fifth of a service time; both follow the sample service's
knobs (``latencyMs``, ``jitter``, ``release`` and ``slowFactor``, read from ``--service``'s
``/admin/config`` every half second), so its slow release slows them too. Listens on loopback only, prints
``READY grpc://127.0.0.1:<port>`` once it serves, and stops on SIGTERM or SIGINT.

Run: ``python samples/service/appointments_grpc.py --service http://127.0.0.1:8080 --port 50051``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # appointments.proto and notification_worker

from notification_worker import Knobs, follow  # the same knobs, read the same way

KNOBS_OF = "/appointments/book"


async def serve(args: argparse.Namespace) -> int:
    import grpc

    protos, services = grpc.protos_and_services("appointments.proto")
    knobs = Knobs(KNOBS_OF)
    counter = 0

    class AppointmentService(services.AppointmentServiceServicer):  # type: ignore[name-defined,misc]
        async def Book(self, request: Any, context: Any) -> Any:
            nonlocal counter
            await asyncio.sleep(knobs.service_time())
            counter += 1
            number = f"apt-{counter:06d}"
            return protos.Appointment(
                id=number, pet_id=request.pet_id, status="booked", release=knobs.release
            )

        async def WatchSlots(self, request: Any, context: Any) -> Any:
            for number in range(request.count or 5):
                await asyncio.sleep(knobs.service_time() / 5)
                yield protos.Slot(slot=f"2026-12-01T{9 + number:02d}:00", ts_ms=int(time.time() * 1000))

    server = grpc.aio.server()
    services.add_AppointmentServiceServicer_to_server(AppointmentService(), server)
    port = server.add_insecure_port(f"127.0.0.1:{args.port}")
    await server.start()
    follower = asyncio.create_task(follow(args.service, knobs)) if args.service else None
    print(f"READY grpc://127.0.0.1:{port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    if args.exit_with_parent:
        parent = os.getppid()

        async def watch() -> None:
            while os.getppid() == parent:
                await asyncio.sleep(0.5)
            stop.set()

        watcher = asyncio.create_task(watch())
    await stop.wait()
    if follower is not None:
        follower.cancel()
    if args.exit_with_parent:
        watcher.cancel()
    await server.stop(grace=1.0)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--service", help="the sample service whose knobs to follow, e.g. http://127.0.0.1:8080"
    )
    parser.add_argument("--port", type=int, default=0, help="0 (default) binds a free port")
    parser.add_argument("--exit-with-parent", action="store_true", help="stop when the parent process exits")
    args = parser.parse_args(argv)
    if args.port in (5432, 6379, 5672, 4222, 1883):
        print(f"appointments_grpc.py: error: port {args.port} belongs to a local service", file=sys.stderr)
        return 2
    return asyncio.run(serve(args))


if __name__ == "__main__":
    sys.exit(main())

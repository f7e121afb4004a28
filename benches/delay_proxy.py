#!/usr/bin/env python3
"""A TCP proxy that delays every response by DELAY_MS milliseconds: a
stand-in for a log on the far side of the internet where the kernel has no
netem (docs/BENCHMARKS.md, issue 29). Python 3 standard library only.

Usage: benches/delay_proxy.py LISTEN_PORT TARGET_HOST:PORT DELAY_MS
Listens on 127.0.0.1:LISTEN_PORT (BIND=ADDR to choose), opens a connection
to TARGET for each one accepted, and forwards both ways. What the client
sends goes on at once; each chunk the target sends back is held until
DELAY_MS after it arrived, in order — a fixed one-way delay, so a response
(and each response on a kept-alive connection) reaches the client DELAY_MS
late, and a large one is not slowed further. An end of stream is passed on
the same way, after the data before it. Runs until SIGTERM or SIGINT.
"""
import asyncio
import os
import signal
import socket
import sys


async def forward(reader, writer, delay):
    """Copies reader to writer, each chunk `delay` seconds after it was
    read; then half-closes writer. Returns at the end of either side."""
    loop = asyncio.get_running_loop()
    queue = asyncio.Queue()

    async def take():
        try:
            while data := await reader.read(65536):
                queue.put_nowait((loop.time() + delay, data))
        except (ConnectionError, OSError):
            pass
        queue.put_nowait((loop.time() + delay, b""))

    taker = asyncio.create_task(take())
    try:
        while True:
            due, data = await queue.get()
            if (wait := due - loop.time()) > 0:
                await asyncio.sleep(wait)
            if not data:
                if writer.can_write_eof():
                    writer.write_eof()
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        taker.cancel()


async def close(writer):
    writer.close()
    try:
        await writer.wait_closed()
    except (ConnectionError, OSError):
        pass


async def serve(listen_port, host, port, delay):
    async def connection(c_reader, c_writer):
        try:
            t_reader, t_writer = await asyncio.open_connection(host, port)
        except OSError:
            await close(c_writer)
            return
        for w in (c_writer, t_writer):
            w.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # Requests go straight on; responses wait `delay`. Once the target
        # has ended (and what it sent is delivered) nothing the client
        # sends matters; a client that ends first still gets the answer.
        requests = asyncio.create_task(forward(c_reader, t_writer, 0.0))
        await forward(t_reader, c_writer, delay)
        requests.cancel()
        await asyncio.gather(close(t_writer), close(c_writer))

    server = await asyncio.start_server(connection, os.environ.get("BIND", "127.0.0.1"),
                                        listen_port, reuse_address=True, backlog=1024)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__.split("\n\n")[1])
    host, _, port = sys.argv[2].rpartition(":")
    asyncio.run(serve(int(sys.argv[1]), host or "127.0.0.1", int(port),
                      float(sys.argv[3]) / 1000))


if __name__ == "__main__":
    main()

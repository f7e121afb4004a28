#!/usr/bin/env python3
"""A misbehaving HTTP server for tests: `endless` streams an endless body
(no Content-Length), `slow` sends headers then nothing, `silent` reads the
request and never answers. Listens on 127.0.0.1:0 and prints its port;
exits after 120 s at most."""
import socket
import sys
import threading
import time

mode = sys.argv[1]
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(16)
print(s.getsockname()[1], flush=True)
threading.Timer(120, lambda: __import__("os")._exit(0)).start()


def serve(c):
    try:
        c.recv(65536)
        if mode == "endless":
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n")
            chunk = b"example.org/log0\n" * 4096
            while True:
                c.sendall(chunk)
        elif mode == "silent":
            time.sleep(115)
        else:
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nexample")
            time.sleep(115)
    except OSError:
        pass
    finally:
        c.close()


while True:
    conn, _ = s.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()

#!/usr/bin/env python3
"""A witness in front of a real one, for tests of a log's sequencer.

usage: fake_witness.py hold GATE TARGET   forward POST /add-checkpoint to
                                          TARGET once the file GATE exists
       fake_witness.py conflict           answer every add-checkpoint 409
                                          with a size the log never had
Listens on 127.0.0.1:0 and prints its port; exits after 300 s at most."""
import http.server
import os
import sys
import threading
import time
import urllib.error
import urllib.request

mode = sys.argv[1]


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, code, ctype, body):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if mode == "conflict":
            return self.reply(409, "text/x.tlog.size", b"999999\n")
        gate, target = sys.argv[2], sys.argv[3]
        while not os.path.exists(gate):
            time.sleep(0.05)
        req = urllib.request.Request(target + "/add-checkpoint", data=body, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                self.reply(r.status, r.headers.get("Content-Type", "text/plain"), r.read())
        except urllib.error.HTTPError as e:
            self.reply(e.code, e.headers.get("Content-Type", "text/plain"), e.read())


srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(srv.server_address[1], flush=True)
threading.Timer(300, lambda: os._exit(0)).start()
srv.serve_forever()

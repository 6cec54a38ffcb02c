"""A real SMTP peer for tests/alerts_email.rs: aiosmtpd on 127.0.0.1 with STARTTLS
required on one port and implicit TLS on another. Each message is written to OUTDIR
as <n>-<starttls|tls>.eml. Prints READY, then runs until stdin closes.

usage: alerts_smtp.py CERT KEY OUTDIR STARTTLS_PORT TLS_PORT
"""
import itertools
import pathlib
import ssl
import sys

from aiosmtpd.controller import Controller

cert, key, outdir, starttls_port, tls_port = sys.argv[1:6]
counter = itertools.count()


class Save:
    def __init__(self, mode):
        self.mode = mode

    async def handle_DATA(self, server, session, envelope):
        n = next(counter)
        path = pathlib.Path(outdir) / f"{n}-{self.mode}.eml"
        path.write_bytes(envelope.original_content or envelope.content)
        return "250 OK"


ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
ctx.load_cert_chain(cert, key)
a = Controller(Save("starttls"), hostname="127.0.0.1", port=int(starttls_port),
               tls_context=ctx, require_starttls=True)
b = Controller(Save("tls"), hostname="127.0.0.1", port=int(tls_port), ssl_context=ctx)
a.start()
b.start()
print("READY", flush=True)
sys.stdin.read()
a.stop()
b.stop()

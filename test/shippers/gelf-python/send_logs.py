"""Sends records through pygelf, a GELF handler for Python's `logging` module, to the gateway on its
three GELF doors, one logger per handler:

- `GelfHttpHandler`: POST /gelf on the gateway's HTTP port, its default compression (a zlib body,
  which pygelf labels `Content-Encoding: gzip,deflate`);
- `GelfUdpHandler`: one datagram a message, zlib as by default, and chunked (chunk_size=1000) for a
  message longer than a datagram;
- `GelfTcpHandler`: plain JSON ended by a NUL byte.

Each handler sends the static field `_app` (the service: `py-http`, `py-udp`, `py-tcp`) and, with
include_extra_fields, a record's `extra` as additional fields. Usage:
python send_logs.py <host> <GELF UDP/TCP port> <HTTP port>. The HTTP handler raises on a failed
request; the UDP and TCP handlers drop errors silently, so the test reads back what it sent.
"""
import logging
import sys

from pygelf import GelfHttpHandler, GelfTcpHandler, GelfUdpHandler

host, gelf_port, http_port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

handlers = {
    "http": GelfHttpHandler(host=host, port=http_port, include_extra_fields=True, _app="py-http"),
    "udp": GelfUdpHandler(host=host, port=gelf_port, chunk_size=1000, include_extra_fields=True, _app="py-udp"),
    "tcp": GelfTcpHandler(host=host, port=gelf_port, include_extra_fields=True, _app="py-tcp"),
}
for name, handler in handlers.items():
    log = logging.getLogger(f"gelf.{name}")
    log.setLevel(logging.DEBUG)
    log.propagate = False
    log.addHandler(handler)
    log.info("order %s accepted", "o-1", extra={"order_id": "o-1", "amount": 12.5})
    log.warning("stock low for %s", "sku-9", extra={"sku": "sku-9"})
    log.error("payment gateway unreachable")
    if name == "udp":
        # Longer than a datagram of chunk_size: sent as chunks, the message whole once read back.
        log.debug("cart dump %s", "".join(f"{i:05d}" for i in range(4000)))
    handler.close()

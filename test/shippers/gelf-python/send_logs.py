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

With `tls` first, only `GelfTlsHandler` (`_app` `py-tls`) to the GELF TCP port switched to TLS:
python send_logs.py tls <host> <GELF TCP port> <CA file> [<client certificate> <its key>]. The
server's certificate is verified against the CA file for <host> (validate=True), and the client
certificate is presented when given (mutual TLS). The handler's socket is made before the first
record so that a handshake the client fails (an untrusted server) ends the script with its reason
rather than being dropped as the handler drops errors; the test reads back what it sent.

The handler closes as pygelf does, without reading: over TLS 1.3 the session tickets a server
sends after the handshake would be left unread, and the kernel would reset the connection and drop
what was not sent yet (openssl/openssl#7948); the gateway serves GELF and syslog at TLS 1.2 for it.
"""
import logging
import sys

from pygelf import GelfHttpHandler, GelfTcpHandler, GelfTlsHandler, GelfUdpHandler


def send(name, handler):
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


if sys.argv[1] == "tls":
    host, port, ca_file = sys.argv[2], int(sys.argv[3]), sys.argv[4]
    cert_file, key_file = (sys.argv[5], sys.argv[6]) if len(sys.argv) > 5 else (None, None)
    handler = GelfTlsHandler(host=host, port=port, validate=True, ca_certs=ca_file, certfile=cert_file, keyfile=key_file, include_extra_fields=True, _app="py-tls")
    handler.sock = handler.makeSocket()
    send("tls", handler)
else:
    host, gelf_port, http_port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    send("http", GelfHttpHandler(host=host, port=http_port, include_extra_fields=True, _app="py-http"))
    send("udp", GelfUdpHandler(host=host, port=gelf_port, chunk_size=1000, include_extra_fields=True, _app="py-udp"))
    send("tcp", GelfTcpHandler(host=host, port=gelf_port, include_extra_fields=True, _app="py-tcp"))

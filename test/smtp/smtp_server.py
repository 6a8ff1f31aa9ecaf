"""A real SMTP server for the email tests (aiosmtpd), so the alerter's sender is tested against an
independent implementation of the protocol rather than against nodemailer's own test server.

Usage: smtp_server.py PORT [--auth USER:PASSWORD] [--starttls CERT KEY | --tls CERT KEY]
                            [--fail-first N CODE] [--fail-at rcpt|data]
  PORT          port on 127.0.0.1; 0 picks a free one
  --auth        offer AUTH PLAIN/LOGIN and require it before MAIL; over plain TCP unless --starttls
                is given, in which case AUTH is refused until the client upgraded
  --starttls    offer STARTTLS with this certificate and key (PEM files)
  --tls         implicit TLS from the first byte (as on port 465) with this certificate and key
  --fail-first  answer the first N commands of the --fail-at stage (default data: the end of DATA;
                rcpt: each RCPT TO) with CODE, e.g. 451 (temporary) or 550 (permanent)

Stdout, one JSON object per line:
  first   {"ready": true, "port": 12345}
  then per message accepted:
          {"mail_from", "rcpt_tos": [...], "data": <raw message>, "auth_user": str | null,
           "tls": bool, "headers": {lower-cased name: first value, decoded}, "subject",
           "message_id", "text": <text/plain body> | null, "html": <text/html body> | null}
          (bodies decoded, with LF line ends; "data" stays as sent, CRLF)
The message is parsed with Python's own email package (policy.default), not with anything from
the client's side. The server stops when stdin reaches end of file or on SIGTERM.
"""
import argparse
import json
import logging
import signal
import ssl
import sys
import threading
import warnings
from email import message_from_bytes, policy

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

REPLIES = {4: "4.3.0 Temporary failure (test)", 5: "5.7.1 Rejected (test)"}


class AnyPortController(Controller):
    """aiosmtpd's Controller connects to its own port once started; with port 0 that must be the
    port the kernel chose."""

    def _trigger_server(self):
        if self.port == 0:
            self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class Handler:
    def __init__(self, fail_count, fail_code, fail_at):
        self.fail_left = fail_count
        self.fail_code = fail_code
        self.fail_at = fail_at
        self.lock = threading.Lock()

    def _fail(self, stage):
        """The reply for a command of this stage that must fail, or None."""
        with self.lock:
            if stage != self.fail_at or self.fail_left <= 0:
                return None
            self.fail_left -= 1
        return f"{self.fail_code} {REPLIES[self.fail_code // 100]}"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        failed = self._fail("rcpt")
        if failed is not None:
            return failed
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        failed = self._fail("data")
        if failed is not None:
            return failed
        raw = envelope.original_content or envelope.content
        print(json.dumps(describe(server, session, envelope, raw)), flush=True)
        return "250 OK message accepted"


def describe(server, session, envelope, raw):
    msg = message_from_bytes(raw, policy=policy.default)
    headers = {}
    for name, value in msg.items():
        headers.setdefault(name.lower(), str(value))
    return {
        "mail_from": envelope.mail_from,
        "rcpt_tos": list(envelope.rcpt_tos),
        "data": raw.decode("utf-8", "replace"),
        "auth_user": session.auth_data.login.decode() if session.authenticated and isinstance(session.auth_data, LoginPassword) else None,
        # Both STARTTLS and implicit TLS leave an SSL transport in place.
        "tls": server.transport.get_extra_info("ssl_object") is not None,
        "headers": headers,
        "subject": headers.get("subject"),
        "message_id": headers.get("message-id"),
        "text": body(msg, "plain"),
        "html": body(msg, "html"),
    }


def body(msg, subtype):
    part = msg.get_body(preferencelist=(subtype,))
    # CRLF is the wire's line end, not the sender's: compare bodies with LF.
    return None if part is None else part.get_content().replace("\r\n", "\n")


def tls_context(cert, key):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    return ctx


def main():
    p = argparse.ArgumentParser(description="SMTP receiver for tests")
    p.add_argument("port", type=int)
    p.add_argument("--auth", metavar="USER:PASSWORD")
    tls = p.add_mutually_exclusive_group()
    tls.add_argument("--starttls", nargs=2, metavar=("CERT", "KEY"))
    tls.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    p.add_argument("--fail-first", nargs=2, type=int, metavar=("N", "CODE"), default=(0, 0))
    p.add_argument("--fail-at", choices=("rcpt", "data"), default="data")
    args = p.parse_args()
    # AUTH over plain TCP is what some tests want; aiosmtpd warns about it (and about its own
    # deprecated attributes) on stderr, which the tests show when the server fails.
    warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    fail_count, fail_code = args.fail_first
    if fail_count > 0 and fail_code // 100 not in REPLIES:
        p.error("--fail-first CODE must be 4xx or 5xx")

    kwargs = {}
    if args.auth is not None:
        user, _, password = args.auth.partition(":")

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = isinstance(auth_data, LoginPassword) and auth_data.login == user.encode() and auth_data.password == password.encode()
            # handled=False on failure: aiosmtpd then answers 535 itself instead of staying silent.
            return AuthResult(success=True, auth_data=auth_data) if ok else AuthResult(success=False, handled=False)

        # Only the STARTTLS server can insist on TLS before AUTH; over implicit TLS aiosmtpd does
        # not notice the connection is already encrypted.
        kwargs.update(authenticator=authenticator, auth_required=True, auth_require_tls=args.starttls is not None)
    if args.starttls is not None:
        kwargs["tls_context"] = tls_context(*args.starttls)
    ssl_context = tls_context(*args.tls) if args.tls is not None else None

    controller = AnyPortController(
        Handler(fail_count, fail_code, args.fail_at),
        hostname="127.0.0.1",
        port=args.port,
        ssl_context=ssl_context,
        server_hostname="localhost",
        **kwargs,
    )
    controller.start()
    print(json.dumps({"ready": True, "port": controller.port}), flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        sys.stdin.read()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()

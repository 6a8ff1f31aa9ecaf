"""Sends records through fluent-logger-python, the Fluentd project's Python client, to a Forward
listener, in the two ways its README shows:

- `sender.FluentSender` with nanosecond_precision=True: emit_with_time() with an EventTime built
  from whole seconds and nanoseconds, so the times read back are known to the nanosecond. Tag
  `<prefix>.billing`. Records as JSON loggers and collectors shape them: flat ECS names
  (`log.level`, `service.name`, `host.name`), journald's (MESSAGE, PRIORITY, PROGRAM, HOST),
  nested values, and one record with no message field at all.
- `handler.FluentHandler` behind the standard `logging` module, with a FluentRecordFormatter
  (integer seconds, the record's own `created`). Tag `<prefix>.orders`.

Both send Message mode ([tag, time, record], no option: the library has no acks). Usage:
python send_logs.py <host> <port> <tag prefix> <epoch seconds>. The library swallows send errors
(it keeps them as last_error and hands unsent bytes to buffer_overflow_handler): any makes the
exit status 1, with the error on stderr.
"""
import logging
import sys

from fluent import handler, sender

problems = []


def overflow(pending):
    problems.append(f"{len(pending)} bytes never sent")


def check(s, what):
    if s.last_error is not None:
        problems.append(f"{what}: {s.last_error!r}")


def main():
    host, port, prefix, base = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])

    billing = sender.FluentSender(prefix, host=host, port=port, nanosecond_precision=True, buffer_overflow_handler=overflow)
    at = lambda ns: sender.EventTime(base, ns)  # noqa: E731
    billing.emit_with_time("billing", at(123_456_789), {
        "msg": "invoice sent", "level": "info", "service": "py-billing", "hostname": "py-host-1",
        "invoice": {"id": "inv-9", "total": 12.5, "paid": True}, "tags": ["eu", "vip"],
    })
    billing.emit_with_time("billing", at(250_000_001), {
        "message": "card declined", "log.level": "warn", "service.name": "py-billing", "host.name": "py-host-1",
        "order.id": "o-17",
    })
    billing.emit_with_time("billing", at(999_999_999), {
        "MESSAGE": "ledger write failed", "PRIORITY": "3", "PROGRAM": "py-billing", "HOST": "py-host-2",
        "_PID": "4242",
    })
    billing.emit_with_time("billing", at(500_000_000), {"event": "login", "user": "u-1", "service": "py-billing"})
    check(billing, "FluentSender")
    billing.close()

    fluent_handler = handler.FluentHandler(f"{prefix}.orders", host=host, port=port, buffer_overflow_handler=overflow)
    fluent_handler.setFormatter(handler.FluentRecordFormatter({
        "level": "%(levelname)s", "hostname": "%(hostname)s", "logger": "%(name)s", "app": "py-orders",
    }))
    log = logging.getLogger("orders.api")
    log.setLevel(logging.DEBUG)
    log.propagate = False
    log.addHandler(fluent_handler)
    log.info("order %s shipped", "o-1")
    # A dict message is merged into the record: its `message` and its fields.
    log.warning({"message": "stock low", "sku": "s-7", "left": 3})
    log.error("payment gateway unreachable")
    check(fluent_handler.sender, "FluentHandler")
    fluent_handler.close()

    for p in problems:
        print(p, file=sys.stderr)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()

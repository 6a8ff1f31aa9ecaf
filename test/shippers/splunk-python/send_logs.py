"""Logs through splunk_handler, a Python `logging` handler for Splunk's HTTP Event Collector, as a
Python service does: the standard `logging` module with a SplunkHandler attached.

Usage: python send_logs.py <host> <port> <token> <source> <epoch seconds>
Every record but the last carries its own time (`_time`, allow_overrides) from <epoch seconds> on;
the last one the handler's (time.time()). The handler batches (flush_interval) and sends the
queue as one request on close(). It swallows send errors and prints them with write_log: they are
collected here, and any makes the exit status 1.
"""
import logging
import sys

from splunk_handler import SplunkHandler


class Reporting(SplunkHandler):
    """The handler, keeping what it reports (send failures among them) instead of only printing it."""

    problems = []

    def write_log(self, log_message):
        self.problems.append(log_message)
        super().write_log(log_message)


def main():
    host, port, token, source, base = sys.argv[1:6]
    base = int(base)
    handler = Reporting(
        host=host, port=int(port), protocol="http", verify=False, token=token,
        index="payments", source=source, sourcetype="python:app", hostname="py-host-1",
        # Longer than the script runs: the queue goes in one request, on close().
        flush_interval=30, allow_overrides=True, retry_count=3, retry_backoff=0.2,
    )
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    log = logging.getLogger("billing.worker")
    log.setLevel(logging.DEBUG)
    log.propagate = False
    log.addHandler(handler)

    log.debug("cache warmed with %d plans", 12, extra={"_time": base + 0.25})
    log.warning("card declined for order %s", "o-17", extra={"_time": base + 1.5})
    log.error("payment failed for order %s", "o-17", extra={"_time": base + 2.75, "_sourcetype": "python:error"})
    log.info("invoice sent")
    handler.close()
    if Reporting.problems:
        sys.exit(1)


if __name__ == "__main__":
    main()

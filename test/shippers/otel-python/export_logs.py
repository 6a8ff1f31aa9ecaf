"""Logs through the OpenTelemetry Python SDK's OTLP/gRPC exporter, the SDK's default protocol, as
a Python service does: the standard `logging` module with the SDK's LoggingHandler attached.

Usage: python export_logs.py <host:port> <tenant> <service>
Prints each export's result (SUCCESS or FAILURE), one a line.
"""
import logging
import sys

from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource


class Reporting(OTLPLogExporter):
    """The exporter, printing what each export reported back."""

    def export(self, batch):
        result = super().export(batch)
        print(result.name, flush=True)
        return result


def main():
    endpoint, tenant, service = sys.argv[1:4]
    exporter = Reporting(endpoint=f"http://{endpoint}", insecure=True, headers=(("x-sluice-tenant", tenant),))
    provider = LoggerProvider(resource=Resource.create({"service.name": service, "host.name": "py-host-1"}))
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    log = logging.getLogger("payments.worker")
    log.setLevel(logging.INFO)
    log.propagate = False
    log.addHandler(LoggingHandler(level=logging.INFO, logger_provider=provider))

    log.warning("card declined for order %s", "o-17", extra={"order_id": "o-17", "attempt": 2})
    log.info("retrying in %d ms", 250)
    try:
        raise ValueError("gateway timeout after 3000 ms")
    except ValueError:
        log.exception("payment failed")
    provider.shutdown()


if __name__ == "__main__":
    main()

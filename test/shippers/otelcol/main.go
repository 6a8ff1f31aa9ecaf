// sluice-otelcol: a minimal OpenTelemetry Collector, built from the upstream modules, so that the
// e2e suite can prove a real Collector pointed at Sluice's gateway delivers logs — no Collector
// binary or container image is to be had on the machines that run the suite, but the Go module
// proxy is.
//
// Build: bash test/shippers/build-otelcol.sh (writes .cache/bin/sluice-otelcol, rebuilding only
// when a source here is newer). Run: sluice-otelcol --config=file:/path/to/config.yaml
//
// Components, all of one release (core v0.165.0, stable v1.71.0, contrib v0.165.1):
//
//	receivers   otlp (gRPC and HTTP), filelog
//	processors  batch
//	exporters   otlp (gRPC), otlphttp
//
// The contrib elasticsearch exporter is left out: the Go module proxy serves no version of
// github.com/open-telemetry/opentelemetry-collector-contrib/exporter/elasticsearchexporter.
// Config sources: file:, env: and yaml: URIs, as in the upstream distributions.
package main

import (
	"fmt"
	"os"

	"github.com/open-telemetry/opentelemetry-collector-contrib/receiver/filelogreceiver"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/provider/envprovider"
	"go.opentelemetry.io/collector/confmap/provider/fileprovider"
	"go.opentelemetry.io/collector/confmap/provider/yamlprovider"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/otlpexporter"
	"go.opentelemetry.io/collector/exporter/otlphttpexporter"
	"go.opentelemetry.io/collector/otelcol"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/batchprocessor"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/service/telemetry/otelconftelemetry"
)

func components() (otelcol.Factories, error) {
	var err error
	f := otelcol.Factories{Telemetry: otelconftelemetry.NewFactory()}
	if f.Receivers, err = otelcol.MakeFactoryMap[receiver.Factory](otlpreceiver.NewFactory(), filelogreceiver.NewFactory()); err != nil {
		return f, err
	}
	if f.Processors, err = otelcol.MakeFactoryMap[processor.Factory](batchprocessor.NewFactory()); err != nil {
		return f, err
	}
	if f.Exporters, err = otelcol.MakeFactoryMap[exporter.Factory](otlpexporter.NewFactory(), otlphttpexporter.NewFactory()); err != nil {
		return f, err
	}
	return f, nil
}

func main() {
	settings := otelcol.CollectorSettings{
		BuildInfo: component.BuildInfo{Command: "sluice-otelcol", Description: "Minimal OpenTelemetry Collector for Sluice's shipper tests", Version: "0.165.0-sluice"},
		Factories: components,
		ConfigProviderSettings: otelcol.ConfigProviderSettings{
			ResolverSettings: confmap.ResolverSettings{
				ProviderFactories: []confmap.ProviderFactory{fileprovider.NewFactory(), envprovider.NewFactory(), yamlprovider.NewFactory()},
			},
		},
	}
	if err := otelcol.NewCommand(settings).Execute(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

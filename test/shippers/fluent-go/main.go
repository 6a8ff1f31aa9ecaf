// sluice-fluent-go: sends records through fluent-logger-golang, the Forward protocol client that
// Docker's `fluentd` logging driver is built on, so that the e2e suite can prove the gateway's
// Forward listener takes what Docker sends. The flags are the driver's options:
//
//	-ack        fluentd-request-ack           RequestAck: the `chunk` option, each record waits for its ack
//	-subsecond  fluentd-sub-second-precision  SubSecondPrecision: EventTime (ext type 0) instead of seconds
//	-async      fluentd-async                 Async: records queued and sent by a goroutine, Close drains
//	-socket     fluentd-address=unix://…      FluentNetwork "unix": the Unix socket at this path, not host:port
//	-tls        (the library's own)           FluentNetwork "tls": TLS to host:port, the server verified
//
// Over TLS the library verifies the server's certificate against the system's roots (it has no CA
// option, and no client certificate either); Go reads them from the file SSL_CERT_FILE names, which
// is how a test's CA gets trusted. TlsInsecureSkipVerify stays off.
//
// The library speaks Message mode only ([tag, time, record, option], option `{}` without -ack) and
// has no shared-key handshake.
//
// Input: one JSON object a line on stdin, {"tag": "...", "time": "RFC 3339", "record": {...}};
// tag defaults to -tag, time to now. Exits 1 when the library reported any error (written to stderr).
//
// Build: bash test/shippers/build-go.sh fluent-go (writes .cache/bin/sluice-fluent-go, rebuilding
// only when a source here is newer).
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/fluent/fluent-logger-golang/fluent"
)

type line struct {
	Tag    string         `json:"tag"`
	Time   string         `json:"time"`
	Record map[string]any `json:"record"`
}

func main() {
	host := flag.String("host", "127.0.0.1", "Forward listener host")
	port := flag.Int("port", 24224, "Forward listener port")
	tag := flag.String("tag", "sluice.test", "tag of lines without one")
	ack := flag.Bool("ack", false, "RequestAck")
	subsecond := flag.Bool("subsecond", false, "SubSecondPrecision (EventTime)")
	async := flag.Bool("async", false, "Async")
	socket := flag.String("socket", "", "a Unix socket's path to send to instead of host:port")
	useTLS := flag.Bool("tls", false, "TLS to host:port (the CA from SSL_CERT_FILE)")
	flag.Parse()
	if *useTLS && *socket != "" {
		fmt.Fprintln(os.Stderr, "-tls and -socket: one or the other")
		os.Exit(2)
	}

	// Async reports each record's outcome through the callback only.
	var mu sync.Mutex
	failed := 0
	report := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		failed++
		fmt.Fprintln(os.Stderr, err)
	}
	network := "tcp"
	if *socket != "" {
		network = "unix"
	} else if *useTLS {
		network = "tls"
	}
	logger, err := fluent.New(fluent.Config{
		FluentNetwork:      network,
		FluentSocketPath:   *socket,
		FluentHost:         *host,
		FluentPort:         *port,
		RequestAck:         *ack,
		SubSecondPrecision: *subsecond,
		Async:              *async,
		// Fail within the test's time, not after the default 13 retries with back-off.
		MaxRetry:    3,
		ReadTimeout: 10 * time.Second,
		AsyncResultCallback: func(_ []byte, err error) {
			if err != nil {
				report(err)
			}
		},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}

	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<20)
	for in.Scan() {
		if len(in.Bytes()) == 0 {
			continue
		}
		var l line
		if err := json.Unmarshal(in.Bytes(), &l); err != nil {
			report(fmt.Errorf("bad input line: %w", err))
			continue
		}
		t := time.Now()
		if l.Time != "" {
			if t, err = time.Parse(time.RFC3339Nano, l.Time); err != nil {
				report(fmt.Errorf("bad time: %w", err))
				continue
			}
		}
		if l.Tag == "" {
			l.Tag = *tag
		}
		if err := logger.PostWithTime(l.Tag, t, l.Record); err != nil {
			report(err)
		}
	}
	if err := in.Err(); err != nil {
		report(err)
	}
	if err := logger.Close(); err != nil {
		report(err)
	}
	if failed > 0 {
		os.Exit(1)
	}
}

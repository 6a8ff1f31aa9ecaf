// sluice-gelf-go: sends GELF messages through go-gelf, the client that Docker's `gelf` logging
// driver is built on (the same module and commit Docker pins: the library's v2 API, imported from
// the github.com path), so that the e2e suite can prove the gateway's GELF listeners take what
// Docker sends. The flags are the driver's options:
//
//	-addr       gelf-address=udp://… or tcp://…  host:port of the GELF listener
//	-transport  the scheme of gelf-address       udp (NewUDPWriter) or tcp (NewTCPWriter)
//	-compress   gelf-compression-type            gzip (the default), zlib or none; UDP only
//
// UDP: one datagram a message, compressed as -compress says; a payload over 1420 bytes (the
// library's fixed ChunkSize, which it does not let a caller change, hence no -chunk-size) goes as
// chunks of 1420 bytes (12-byte header: 0x1e 0x0f, 8-byte id, sequence, count), at most 128.
// TCP: uncompressed JSON, each message ended by a null byte, on one connection (the library
// redials up to 3 times, a second apart, when a write fails).
//
// Input: one JSON object a line on stdin, {"host": "...", "short": "...", "full": "...",
// "time": <epoch seconds, float>, "level": <0-7>, "facility": "...", "extra": {"_field": value}};
// host defaults to this machine's name, time to now, level to 6 (info). Extra keys are sent as they
// are given (their numbers verbatim), so a test can send ones the spec forbids. The library drops a
// level of 0 from the JSON (omitempty), and writes version "1.1" as this program sets it.
// Exits 1 when any line failed (each error written to stderr).
//
// Build: bash test/shippers/build-go.sh gelf-go (writes .cache/bin/sluice-gelf-go, rebuilding
// only when a source here is newer).
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/Graylog2/go-gelf/gelf"
)

type line struct {
	Host     string         `json:"host"`
	Short    string         `json:"short"`
	Full     string         `json:"full"`
	Time     *float64       `json:"time"`
	Level    *int32         `json:"level"`
	Facility string         `json:"facility"`
	Extra    map[string]any `json:"extra"`
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}

func main() {
	addr := flag.String("addr", "127.0.0.1:12201", "GELF listener host:port")
	transport := flag.String("transport", "udp", "udp or tcp")
	compress := flag.String("compress", "gzip", "gzip, zlib or none (UDP only)")
	flag.Parse()

	compressSet := false
	flag.Visit(func(f *flag.Flag) { compressSet = compressSet || f.Name == "compress" })

	var writer gelf.Writer
	switch *transport {
	case "udp":
		w, err := gelf.NewUDPWriter(*addr)
		if err != nil {
			fail(err)
		}
		switch *compress {
		case "gzip":
			w.CompressionType = gelf.CompressGzip
		case "zlib":
			w.CompressionType = gelf.CompressZlib
		case "none":
			w.CompressionType = gelf.CompressNone
		default:
			fail(fmt.Errorf("-compress: %q is not gzip, zlib or none", *compress))
		}
		writer = w
	case "tcp":
		if compressSet && *compress != "none" {
			fail(fmt.Errorf("-compress %s: the TCP writer sends uncompressed only", *compress))
		}
		w, err := gelf.NewTCPWriter(*addr)
		if err != nil {
			fail(err)
		}
		writer = w
	default:
		fail(fmt.Errorf("-transport: %q is not udp or tcp", *transport))
	}

	hostname, err := os.Hostname()
	if err != nil {
		fail(err)
	}
	failed := 0
	report := func(err error) {
		failed++
		fmt.Fprintln(os.Stderr, err)
	}

	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 4<<20), 4<<20)
	for in.Scan() {
		if len(bytes.TrimSpace(in.Bytes())) == 0 {
			continue
		}
		var l line
		dec := json.NewDecoder(bytes.NewReader(in.Bytes()))
		dec.UseNumber() // extra numbers go out as written, not through float64
		if err := dec.Decode(&l); err != nil {
			report(fmt.Errorf("bad input line: %w", err))
			continue
		}
		m := gelf.Message{
			Version:  "1.1",
			Host:     l.Host,
			Short:    l.Short,
			Full:     l.Full,
			TimeUnix: float64(time.Now().UnixNano()) / float64(time.Second),
			Level:    gelf.LOG_INFO,
			Facility: l.Facility,
			Extra:    l.Extra,
		}
		if m.Host == "" {
			m.Host = hostname
		}
		if l.Time != nil {
			m.TimeUnix = *l.Time
		}
		if l.Level != nil {
			m.Level = *l.Level
		}
		if err := writer.WriteMessage(&m); err != nil {
			report(err)
		}
	}
	if err := in.Err(); err != nil {
		report(err)
	}
	// Both writers send synchronously in WriteMessage; Close ends the TCP connection with a FIN
	// after everything written.
	if err := writer.Close(); err != nil {
		report(err)
	}
	if failed > 0 {
		os.Exit(1)
	}
}

// sluice-beats-go: sends events through go-lumber's Lumberjack v2 client, the library that libbeat's
// `logstash` output (Filebeat's output.logstash) is built on, so that the e2e suite can prove the
// gateway's Beats listener takes what a Beat sends. It uses the synchronous client: each Send writes
// one window ('2W' count, then the events as '2J' frames numbered 1..count, all inside one '2C' zlib
// frame when compressed) and waits until the server has ACKed the window's last sequence number.
// The flags are the output's options:
//
//	-addr      hosts: ["host:port"]            the Beats listener to dial (plain TCP unless -tls-ca)
//	-batch     bulk_max_size                   events a Send call, one window each (libbeat's default is 2048)
//	-compress  compression_level               zlib level 0-9 of the window, 0 for none (libbeat's default is 3)
//	-timeout   timeout                         dial, write and ACK-read deadline (libbeat's default is 30s)
//	-tls-ca    ssl.certificate_authorities     PEM CAs to verify the server with: TLS when set, the server's
//	                                           certificate checked for the host of -addr (ssl.verification_mode: full)
//	-tls-cert  ssl.certificate                 PEM client certificate presented to the server (mutual TLS), with -tls-key
//	-tls-key   ssl.key                         its PEM private key
//
// Over TLS the protocol is go-lumber's all the same: libbeat's logstash output hands the client a
// connection its transport dialed with TLS (the output's ssl.* settings), as this hands it one from
// crypto/tls through SyncDialWith.
//
// Input: one JSON object a line on stdin, each an event sent as is (a libbeat event is an object
// with @timestamp, @metadata, message, host, agent, ecs, log, input, fields…); numbers keep their
// digits (json.Number), and <, >, & stay as they are (libbeat's escape_html: false), but keys go out
// in sorted order as encoding/json writes maps. Empty lines are skipped. Prints nothing on success. Exits 1, the error on stderr, when a line is not a JSON
// object (after sending the rest), or at once when a Send fails or the server ACKed a number other
// than the window's count; 2 on bad flags.
//
// Build: bash test/shippers/build-go.sh beats-go (writes .cache/bin/sluice-beats-go, rebuilding
// only when a source here is newer).
package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"time"

	v2 "github.com/elastic/go-lumber/client/v2"
)

// encode is json.Marshal without its HTML escaping, as libbeat's event encoder writes by default.
func encode(event interface{}) ([]byte, error) {
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(event); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(out.Bytes(), []byte("\n")), nil
}

// tlsConfig trusts the CAs of caFile and, given certFile and keyFile, presents that client certificate.
func tlsConfig(caFile, certFile, keyFile string) (*tls.Config, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no PEM certificate", caFile)
	}
	config := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	if certFile != "" {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, err
		}
		config.Certificates = []tls.Certificate{pair}
	}
	return config, nil
}

func main() {
	addr := flag.String("addr", "127.0.0.1:5044", "Beats listener host:port")
	batch := flag.Int("batch", 100, "events a Send call (one window each)")
	compress := flag.Int("compress", 3, "zlib compression level 0-9, 0 for none")
	timeout := flag.Duration("timeout", 30*time.Second, "dial, write and ACK-read timeout")
	tlsCA := flag.String("tls-ca", "", "PEM CA certificates to verify the server with; TLS when set")
	tlsCert := flag.String("tls-cert", "", "PEM client certificate to present (mutual TLS), with -tls-key")
	tlsKey := flag.String("tls-key", "", "PEM private key of -tls-cert")
	flag.Parse()
	if *batch < 1 {
		fmt.Fprintln(os.Stderr, "-batch must be at least 1")
		os.Exit(2)
	}
	if (*tlsCert == "") != (*tlsKey == "") || (*tlsCert != "" && *tlsCA == "") {
		fmt.Fprintln(os.Stderr, "-tls-cert and -tls-key go together, and with -tls-ca")
		os.Exit(2)
	}

	dialer := &net.Dialer{Timeout: *timeout}
	dial := dialer.Dial
	if *tlsCA != "" {
		config, err := tlsConfig(*tlsCA, *tlsCert, *tlsKey)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		// The handshake is done here; with TLS 1.3 a server refusing the client's certificate says so
		// only after it, and the first ACK read returns its alert.
		dial = func(network, address string) (net.Conn, error) {
			conn, err := tls.DialWithDialer(dialer, network, address, config)
			if err != nil {
				return nil, err
			}
			return conn, nil
		}
	}
	client, err := v2.SyncDialWith(dial, *addr, v2.Timeout(*timeout), v2.CompressionLevel(*compress), v2.JSONEncoder(encode))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fatal := func(err error) {
		fmt.Fprintln(os.Stderr, err)
		_ = client.Close()
		os.Exit(1)
	}

	windows := 0
	send := func(events []interface{}) {
		windows++
		acked, err := client.Send(events)
		if err != nil {
			fatal(fmt.Errorf("window %d (%d events): %w", windows, len(events), err))
		}
		if acked != len(events) {
			fatal(fmt.Errorf("window %d: server ACKed %d of %d events", windows, acked, len(events)))
		}
	}

	failed := 0
	events := make([]interface{}, 0, *batch)
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 64<<10), 16<<20)
	for n := 1; in.Scan(); n++ {
		if len(bytes.TrimSpace(in.Bytes())) == 0 {
			continue
		}
		var event map[string]interface{}
		dec := json.NewDecoder(bytes.NewReader(in.Bytes()))
		dec.UseNumber()
		if err := dec.Decode(&event); err != nil || event == nil || dec.More() {
			if err == nil {
				err = fmt.Errorf("not one JSON object")
			}
			failed++
			fmt.Fprintf(os.Stderr, "bad input line %d: %v\n", n, err)
			continue
		}
		if events = append(events, event); len(events) == *batch {
			send(events)
			events = make([]interface{}, 0, *batch)
		}
	}
	if err := in.Err(); err != nil {
		failed++
		fmt.Fprintln(os.Stderr, err)
	}
	if len(events) > 0 {
		send(events)
	}
	if err := client.Close(); err != nil {
		failed++
		fmt.Fprintln(os.Stderr, err)
	}
	if failed > 0 {
		os.Exit(1)
	}
}

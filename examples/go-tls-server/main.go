// A TLS server on Go's crypto/tls whose session tickets resume on every
// server of a fleet: its ticket keys are the edge session-resumption
// service's `go` export (GET /v1/keys/export?format=go), polled and handed to
// tls.Config.SetSessionTicketKeys. The first key encrypts, every key
// decrypts, so tickets made under the previous key keep resuming (and are
// renewed) after a rotation, and a revoked key is gone at the next poll.
//
// Standard library only (Go 1.19, Debian's golang-go). Usage (README.md):
//
//	ESR_TOKEN=<token with the stek scope> go run . -service http://127.0.0.1:8787 \
//	  -cert cert.pem -key key.pem -addr 127.0.0.1:8443 -name a
//
// SIGHUP polls the export at once (after a forced rotation or a revoke).
// Logs are JSON lines on stdout.
package main

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

type options struct {
	service string
	token   string
	cert    string
	key     string
	addr    string
	name    string
	slots   int
	timeout time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.service, "service", envOr("ESR_URL", "http://127.0.0.1:8787"), "the service's base URL")
	flag.StringVar(&o.cert, "cert", "", "PEM certificate chain (required)")
	flag.StringVar(&o.key, "key", "", "PEM private key (required)")
	flag.StringVar(&o.addr, "addr", "127.0.0.1:8443", "where to listen (port 0 picks a free one)")
	flag.StringVar(&o.name, "name", "go", "in logs and answers")
	flag.IntVar(&o.slots, "slots", 4, "ticket keys to hold: the active key, the pending key, retiring keys (1 to 16)")
	flag.DurationVar(&o.timeout, "timeout", 2*time.Second, "deadline of each export poll")
	flag.Parse()
	// Never a flag: argv shows in ps.
	o.token = os.Getenv("ESR_TOKEN")
	if o.token == "" || o.cert == "" || o.key == "" || o.slots < 1 || o.slots > 16 {
		fmt.Fprintln(os.Stderr, "usage: ESR_TOKEN=<token with the stek scope> go-tls-server -cert cert.pem -key key.pem [-service URL] [-addr 127.0.0.1:8443] [-name a] [-slots 4]")
		os.Exit(2)
	}
	if err := run(o); err != nil {
		logEvent(o.name, "fatal", map[string]any{"error": err.Error()})
		os.Exit(1)
	}
}

func run(o options) error {
	cert, err := tls.LoadX509KeyPair(o.cert, o.key)
	if err != nil {
		return fmt.Errorf("certificate: %w", err)
	}
	config := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	keys := &keyPoller{opt: o, config: config, client: &http.Client{Timeout: o.timeout}}

	// The fleet's keys before the first connection, else this server would
	// issue tickets no other can open. A service that cannot be reached does
	// not stop it: it starts with Go's own keys and keeps polling.
	wait := keys.poll()
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return err
	}
	logEvent(o.name, "listening", map[string]any{"addr": ln.Addr().String(), "port": ln.Addr().(*net.TCPAddr).Port, "ticket_keys": keys.state()})

	server := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// One request per connection, so that every request is a handshake.
		w.Header().Set("Connection", "close")
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "%s %s reused=%t\n", o.name, versionName(r.TLS.Version), r.TLS.DidResume)
	}), ReadHeaderTimeout: 10 * time.Second}
	// tls.NewListener keeps this very config, so SetSessionTicketKeys reaches
	// every new connection (http.Server.ServeTLS would serve a clone).
	go func() {
		if err := server.Serve(tls.NewListener(ln, config)); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logEvent(o.name, "serve_failed", map[string]any{"error": err.Error()})
			os.Exit(1)
		}
	}()

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM)
	timer := time.NewTimer(wait)
	for {
		select {
		case <-timer.C:
			timer.Reset(keys.poll())
		case s := <-signals:
			if s == syscall.SIGHUP {
				if !timer.Stop() {
					<-timer.C
				}
				timer.Reset(keys.poll())
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			return server.Shutdown(ctx)
		}
	}
}

// keyPoller keeps config's session ticket keys equal to the service's export.
type keyPoller struct {
	opt      options
	config   *tls.Config
	client   *http.Client
	revision string
	failures int
}

// stekExport is the part of GET /v1/keys/export that a Go server reads.
type stekExport struct {
	Format string `json:"format"`
	Keys   []struct {
		ID    int    `json:"id"`
		State string `json:"state"`
		Role  string `json:"role"`
		Name  string `json:"name"`
		Key   string `json:"key"`
	} `json:"keys"`
	Revision     string `json:"revision"`
	RefreshAfter int    `json:"refresh_after"`
}

func (p *keyPoller) state() string {
	if p.revision == "" {
		return "pending"
	}
	return "shared"
}

// poll fetches the export once, installs its keys if they changed, and says
// how long to wait before the next poll: refresh_after (the next key event,
// at most the service's cache_ttl), or a backoff after a failure (the keys
// in place stay valid until the next activation).
func (p *keyPoller) poll() time.Duration {
	exported, err := p.fetch()
	if err != nil {
		p.failures++
		wait := time.Duration(500<<min(p.failures, 6)) * time.Millisecond
		if wait > 30*time.Second {
			wait = 30 * time.Second
		}
		logEvent(p.opt.name, "ticket_keys_failed", map[string]any{"error": err.Error(), "retry_ms": wait.Milliseconds()})
		return wait
	}
	p.failures = 0
	if exported.Revision != p.revision {
		keys := make([][32]byte, 0, len(exported.Keys))
		names := make([]string, 0, len(exported.Keys))
		for _, k := range exported.Keys {
			raw, err := base64.RawURLEncoding.DecodeString(k.Key)
			if err != nil || len(raw) != 32 {
				logEvent(p.opt.name, "ticket_keys_failed", map[string]any{"error": fmt.Sprintf("key %d is not 32 bytes of base64url", k.ID), "retry_ms": 5000})
				return 5 * time.Second
			}
			var key [32]byte
			copy(key[:], raw)
			keys = append(keys, key)
			names = append(names, k.Name)
		}
		// The export's order is Go's: the first key encrypts, all decrypt.
		// Safe while serving: the config guards its keys with a mutex.
		p.config.SetSessionTicketKeys(keys)
		p.revision = exported.Revision
		logEvent(p.opt.name, "ticket_keys", map[string]any{"revision": exported.Revision, "key_names": names, "refresh_after": exported.RefreshAfter})
	}
	return time.Duration(max(exported.RefreshAfter, 1)) * time.Second
}

func (p *keyPoller) fetch() (*stekExport, error) {
	query := url.Values{"format": {"go"}, "slots": {strconv.Itoa(p.opt.slots)}}
	req, err := http.NewRequest(http.MethodGet, p.opt.service+"/v1/keys/export?"+query.Encode(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+p.opt.token)
	req.Header.Set("User-Agent", "esr-go-tls-server/"+p.opt.name)
	res, err := p.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusOK {
		// The service's error code, never the body's other fields.
		var e struct {
			Error struct {
				Code string `json:"code"`
			} `json:"error"`
		}
		_ = json.Unmarshal(body, &e)
		return nil, fmt.Errorf("HTTP %d %s", res.StatusCode, e.Error.Code)
	}
	var exported stekExport
	if err := json.Unmarshal(body, &exported); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	if exported.Format != "go" || len(exported.Keys) == 0 {
		return nil, errors.New("export: not a go export with keys")
	}
	return &exported, nil
}

func versionName(v uint16) string {
	switch v {
	case tls.VersionTLS13:
		return "TLSv1.3"
	case tls.VersionTLS12:
		return "TLSv1.2"
	}
	return fmt.Sprintf("0x%04x", v)
}

func logEvent(name, event string, fields map[string]any) {
	line := map[string]any{"t": time.Now().UnixMilli(), "name": name, "event": event}
	for k, v := range fields {
		line[k] = v
	}
	out, _ := json.Marshal(line)
	fmt.Println(string(out))
}

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

func min(a, b int) int {
	if a < b {
		return a
	}
	return b
}

func max(a, b int) int {
	if a > b {
		return a
	}
	return b
}

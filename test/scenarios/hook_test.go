package scenarios

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// event is one alert of one Alertmanager webhook notification, stamped
// with the time the suite received it.
type event struct {
	At          time.Time
	Status      string // firing or resolved
	Fingerprint string
	Labels      map[string]string
	StartsAt    time.Time
}

func (e event) alert() string { return e.Labels["alertname"] }

// scenarioOf and nodeOf split the instance label "<scenario>/<node>".
func (e event) scenario() string { s, _ := splitInstance(e.Labels["instance"]); return s }
func (e event) node() string     { _, n := splitInstance(e.Labels["instance"]); return n }

func splitInstance(inst string) (scenario, node string) {
	s, n, ok := strings.Cut(inst, "/")
	if !ok {
		return "", inst
	}
	return s, n
}

// webhookPayload is Alertmanager's webhook body (version 4), the part the
// suite reads.
type webhookPayload struct {
	Version string `json:"version"`
	Status  string `json:"status"`
	Alerts  []struct {
		Status      string            `json:"status"`
		Labels      map[string]string `json:"labels"`
		StartsAt    time.Time         `json:"startsAt"`
		EndsAt      time.Time         `json:"endsAt"`
		Fingerprint string            `json:"fingerprint"`
	} `json:"alerts"`
}

// parseWebhook turns one webhook body into events received at at.
func parseWebhook(body []byte, at time.Time) ([]event, error) {
	var p webhookPayload
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, fmt.Errorf("webhook body: %w", err)
	}
	if p.Version != "4" {
		return nil, fmt.Errorf("webhook payload version %q, want 4", p.Version)
	}
	out := make([]event, 0, len(p.Alerts))
	for _, a := range p.Alerts {
		if a.Status != "firing" && a.Status != "resolved" {
			return nil, fmt.Errorf("alert %v: status %q", a.Labels, a.Status)
		}
		out = append(out, event{At: at, Status: a.Status, Fingerprint: a.Fingerprint, Labels: a.Labels, StartsAt: a.StartsAt})
	}
	return out, nil
}

// recorder is the webhook receiver: it records every notification.
type recorder struct {
	url  string
	srv  *http.Server
	mu   sync.Mutex
	evs  []event
	errs []error
}

func newRecorder() (*recorder, error) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &recorder{url: "http://" + l.Addr().String() + "/hook"}
	mux := http.NewServeMux()
	mux.HandleFunc("/hook", func(w http.ResponseWriter, req *http.Request) {
		at := time.Now()
		body, err := io.ReadAll(io.LimitReader(req.Body, 8<<20))
		if err == nil {
			var evs []event
			if evs, err = parseWebhook(body, at); err == nil {
				r.mu.Lock()
				r.evs = append(r.evs, evs...)
				r.mu.Unlock()
			}
		}
		if err != nil {
			r.mu.Lock()
			r.errs = append(r.errs, err)
			r.mu.Unlock()
			http.Error(w, err.Error(), http.StatusBadRequest)
		}
	})
	r.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = r.srv.Serve(l) }()
	return r, nil
}

func (r *recorder) close() { _ = r.srv.Close() }

// events returns a copy of the events whose scenario is id ("" for every
// event).
func (r *recorder) events(id string) []event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []event
	for _, e := range r.evs {
		if id == "" || e.scenario() == id {
			out = append(out, e)
		}
	}
	return out
}

func (r *recorder) errors() []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]error(nil), r.errs...)
}

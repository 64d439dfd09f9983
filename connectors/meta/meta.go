// Package meta receives Meta lead ads: Meta's leadgen webhooks at
// GET|POST /webhooks/meta/{source}, verified by their signature, and the
// leads they announce, read from the Graph API and landed for the
// pipeline. It also ships the built-in mapping of a lead.
//
// A webhook only names a lead; the answers to the form are read from the
// Graph API while Meta waits for the answer to its delivery, which is
// 200 only once every lead it named is durable. Until then Meta delivers
// it again (for up to 36 hours), so nothing is lost while the Graph API
// throttles or is down.
package meta

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	_ "embed" // the built-in mapping
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/connectors"
	"github.com/crmhub/crmhub/mapping"
)

// SourceType is the config type of a Meta lead ads source.
const SourceType = "meta"

// Pattern is where the Receiver is served: GET answers Meta's
// subscription check, POST takes deliveries.
const Pattern = "/webhooks/meta/{source}"

// HeaderSignature carries "sha256=" and the hex HMAC-SHA256 of the raw
// body under the app secret.
const HeaderSignature = "X-Hub-Signature-256"

// EntityUnavailableLead is a lead the Graph API says cannot be read (it
// was deleted, or the token may not see it): the webhook's notice of it
// is landed under the lead's id, with the API's error, so that it is
// kept, and the pipeline does not map it.
const EntityUnavailableLead crmhub.Entity = "lead_unavailable"

// Limits of one delivery.
const (
	// MaxLeads is how many leads one delivery may name.
	MaxLeads = 500
	// fetchers is how many leads of a delivery are read at once.
	fetchers = 4
	// fetchBudget bounds the reading of a delivery's leads: Meta waits
	// for the answer, and a delivery not answered in time comes again.
	fetchBudget = 15 * time.Second
)

// Ingester lands a verified delivery's records durably; see
// pipeline.Ingester.Receive.
type Ingester interface {
	Receive(ctx context.Context, d crmhub.Delivery, envs []crmhub.Envelope) (fresh bool, err error)
}

// Leads reads a lead by id: Client.Lead.
type Leads interface {
	Lead(ctx context.Context, id string) (json.RawMessage, error)
}

// Source is one configured Meta source: an app's leadgen webhooks for a
// page.
type Source struct {
	// Name is the configured source name, the {source} of the URL.
	Name string
	// AppSecrets verify signatures: the app secret, then any still
	// accepted while it is rotated. At least one is required.
	AppSecrets []string
	// VerifyToken is what Meta's subscription check must send.
	VerifyToken string
	// PageID, when set, is the only page whose leads are taken: an app
	// subscribed to several pages delivers all of theirs.
	PageID string
	// Leads reads the leads the webhooks name.
	Leads Leads
	// Rules are the source's mapping of a lead; Options its settings.
	// They find the id and version a lead lands under.
	Rules   *mapping.Rules
	Options mapping.Options
}

// Receiver receives Meta leadgen webhooks. It is an http.Handler; the
// caller bounds the body size (http.MaxBytesReader).
type Receiver struct {
	sources map[string]source
	in      Ingester
	log     *slog.Logger
}

type source struct {
	Source
	keys [][]byte
}

// New returns the receiver of sources. It does no I/O.
func New(in Ingester, log *slog.Logger, sources ...Source) (*Receiver, error) {
	if in == nil {
		return nil, errors.New("meta webhooks: no ingester")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	srcs, err := connectors.ByName("meta webhooks", sources, func(s Source) string { return s.Name },
		func(s Source) (source, error) {
			src := source{Source: s, keys: connectors.Keys(s.AppSecrets)}
			switch {
			case s.Rules == nil:
				return src, errors.New("no mapping")
			case s.Leads == nil:
				return src, errors.New("no Graph API client")
			case s.VerifyToken == "":
				return src, errors.New("no verify token")
			case len(src.keys) == 0:
				return src, errors.New("no app secret")
			}
			return src, nil
		})
	if err != nil {
		return nil, err
	}
	return &Receiver{sources: srcs, in: in, log: log.With("connector", SourceType)}, nil
}

// received is the answer to a landed delivery.
type received struct {
	Leads       int  `json:"leads"`
	Unavailable int  `json:"unavailable,omitempty"`
	Ignored     int  `json:"ignored,omitempty"`
	Redelivery  bool `json:"redelivery"`
}

func (rc *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	src, ok := rc.sources[r.PathValue("source")]
	if !ok {
		http.Error(w, "no meta source of that name", http.StatusNotFound)
		return
	}
	switch r.Method {
	case http.MethodGet:
		rc.verifySubscription(w, r, src)
	case http.MethodPost:
		rc.deliver(w, r, src)
	default:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

// verifySubscription answers Meta's check of a webhook subscription: the
// challenge, echoed, when the verify token matches.
func (rc *Receiver) verifySubscription(w http.ResponseWriter, r *http.Request, src source) {
	q := r.URL.Query()
	token := q.Get("hub.verify_token")
	if q.Get("hub.mode") != "subscribe" || subtle.ConstantTimeCompare([]byte(token), []byte(src.VerifyToken)) != 1 {
		rc.log.Warn("meta subscription check refused", "source", src.Name, "mode", q.Get("hub.mode"))
		http.Error(w, "verify token mismatch", http.StatusForbidden)
		return
	}
	challenge := q.Get("hub.challenge")
	if challenge == "" || len(challenge) > 256 {
		http.Error(w, "hub.challenge is missing or too long", http.StatusBadRequest)
		return
	}
	rc.log.Info("meta subscription verified", "source", src.Name)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write([]byte(challenge))
}

// deliver takes one delivery: verified, its leads read and landed, or
// answered with an error that makes Meta deliver it again.
func (rc *Receiver) deliver(w http.ResponseWriter, r *http.Request, src source) {
	log := rc.log.With("source", src.Name)
	body, ok := connectors.ReadDelivery(w, r, log)
	if !ok {
		return
	}
	if reason := src.verify(r.Header.Get(HeaderSignature), body); reason != "" {
		log.Warn("meta webhook refused", "reason", reason, "bytes", len(body))
		http.Error(w, "invalid signature in "+HeaderSignature, http.StatusUnauthorized)
		return
	}
	n, err := ParseNotification(body)
	if err != nil {
		log.Warn("meta webhook refused: not a leadgen notification", "err", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var leads []Notice
	ignored := n.Ignored
	for _, l := range n.Leads {
		if src.PageID != "" && l.PageID != src.PageID {
			ignored++
			log.Warn("meta lead of another page ignored", "page_id", l.PageID, "lead_id", l.LeadID)
			continue
		}
		leads = append(leads, l)
	}
	if len(leads) > MaxLeads {
		http.Error(w, fmt.Sprintf("%d leads in one delivery; at most %d", len(leads), MaxLeads), http.StatusBadRequest)
		return
	}
	envs, unavailable, err := rc.fetch(r.Context(), src, leads)
	if err != nil {
		log.Error("meta leads not read; Meta delivers them again", "leads", len(leads), "err", err)
		http.Error(w, "the leads could not be read from the Graph API, deliver again", http.StatusServiceUnavailable)
		return
	}
	fresh := false
	if len(envs) > 0 {
		d := crmhub.Delivery{Source: src.Name, Meta: map[string]string{"object": n.Object}}
		if fresh, err = rc.in.Receive(r.Context(), d, envs); err != nil {
			log.Error("meta leads not landed", "leads", len(envs), "err", err)
			http.Error(w, "not stored, deliver again", http.StatusServiceUnavailable)
			return
		}
	}
	log.Debug("meta webhook", "leads", len(envs), "unavailable", unavailable, "ignored", ignored)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(received{Leads: len(envs) - unavailable, Unavailable: unavailable,
		Ignored: ignored, Redelivery: len(envs) > 0 && !fresh})
}

// fetch reads the leads of a delivery, a few at once, and returns them as
// envelopes: a lead the Graph API says is gone is its notice, under
// EntityUnavailableLead. Any other failure fails the whole delivery.
func (rc *Receiver) fetch(ctx context.Context, src source, leads []Notice) ([]crmhub.Envelope, int, error) {
	ctx, cancel := context.WithTimeout(ctx, fetchBudget)
	defer cancel()
	envs := make([]crmhub.Envelope, len(leads))
	errs := make([]error, len(leads))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(fetchers, len(leads)) {
		wg.Go(func() {
			for i := range next {
				envs[i], errs[i] = src.lead(ctx, leads[i])
				if errs[i] != nil {
					cancel()
				}
			}
		})
	}
	for i := range leads {
		next <- i
	}
	close(next)
	wg.Wait()
	// The first failure cancelled the reads in flight: report it rather
	// than their cancellation.
	var failed error
	for i, err := range errs {
		if err != nil && (failed == nil || errors.Is(failed, context.Canceled)) {
			failed = fmt.Errorf("lead %s: %w", leads[i].LeadID, err)
		}
	}
	if failed != nil {
		return nil, 0, failed
	}
	unavailable := 0
	for i := range envs {
		if envs[i].Entity == EntityUnavailableLead {
			unavailable++
			rc.log.Warn("meta lead cannot be read; its notice is kept", "source", src.Name, "lead_id", leads[i].LeadID)
		}
	}
	return envs, unavailable, nil
}

// lead reads one lead and returns it as it lands.
func (s source) lead(ctx context.Context, n Notice) (crmhub.Envelope, error) {
	now := time.Now().UTC()
	body, err := s.Leads.Lead(ctx, n.LeadID)
	var ge *GraphError
	if errors.As(err, &ge) && ge.Gone() {
		payload, err := json.Marshal(unavailable{Notice: n, Error: ge.Error()})
		if err != nil {
			return crmhub.Envelope{}, err
		}
		return crmhub.Envelope{Source: s.Name, SourceType: SourceType, Entity: EntityUnavailableLead,
			ExternalID: n.LeadID, Payload: payload, ReceivedAt: now}, nil
	}
	if err != nil {
		return crmhub.Envelope{}, err
	}
	e := crmhub.Envelope{Source: s.Name, SourceType: SourceType, Entity: s.Rules.Entity, Payload: body, ReceivedAt: now}
	if rec, err := mapping.JSONRecord(body); err == nil {
		e.ExternalID, e.Version, _ = s.Rules.Key(rec, s.Options)
	}
	if e.ExternalID == "" {
		// The lead's id, as the webhook named it: a lead the mapping finds
		// no id in still lands, and the map stage says why it fails.
		e.ExternalID = n.LeadID
	}
	return e, nil
}

// unavailable is what lands of a lead that cannot be read.
type unavailable struct {
	Notice
	Error string `json:"error"`
}

// verify checks sig, "sha256=" and hex, against every app secret of the
// source and returns why it fails, or "" when it holds.
func (s source) verify(sig string, body []byte) string {
	return connectors.CheckSignature(sig, false, s.keys, body)
}

// Notification is what a leadgen webhook delivery says.
type Notification struct {
	// Object is what the delivery is about: "page".
	Object string
	// Leads are the leads it names, each once.
	Leads []Notice
	// Ignored counts the changes of other fields.
	Ignored int
}

// Notice is one leadgen change: which lead of which page, form and ad.
// Ids are decimal strings, whether Meta wrote them as JSON numbers or
// strings: they do not fit a float64.
type Notice struct {
	LeadID      string `json:"leadgen_id"`
	PageID      string `json:"page_id,omitempty"`
	FormID      string `json:"form_id,omitempty"`
	AdID        string `json:"ad_id,omitempty"`
	CreatedTime int64  `json:"created_time,omitempty"`
}

// ParseNotification reads a leadgen webhook body:
// {"object":"page","entry":[{"id","time","changes":[{"field":"leadgen","value":{...}}]}]}.
// Changes of other fields are counted, not returned; a lead named twice
// is returned once.
func ParseNotification(body []byte) (Notification, error) {
	var raw struct {
		Object string `json:"object"`
		Entry  []struct {
			Changes []struct {
				Field string `json:"field"`
				Value struct {
					LeadID      idString    `json:"leadgen_id"`
					PageID      idString    `json:"page_id"`
					FormID      idString    `json:"form_id"`
					AdID        idString    `json:"ad_id"`
					CreatedTime json.Number `json:"created_time"`
				} `json:"value"`
			} `json:"changes"`
		} `json:"entry"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return Notification{}, fmt.Errorf("the body is not a webhook notification: %w", err)
	}
	if raw.Object == "" || raw.Entry == nil {
		return Notification{}, errors.New(`the body is not a webhook notification: no "object" or "entry"`)
	}
	n := Notification{Object: raw.Object}
	seen := map[string]bool{}
	for _, e := range raw.Entry {
		for _, c := range e.Changes {
			if c.Field != "leadgen" {
				n.Ignored++
				continue
			}
			v := c.Value
			if v.LeadID == "" {
				return Notification{}, errors.New("a leadgen change without a leadgen_id")
			}
			if seen[string(v.LeadID)] {
				continue
			}
			seen[string(v.LeadID)] = true
			created, _ := v.CreatedTime.Int64()
			n.Leads = append(n.Leads, Notice{LeadID: string(v.LeadID), PageID: string(v.PageID),
				FormID: string(v.FormID), AdID: string(v.AdID), CreatedTime: created})
		}
	}
	return n, nil
}

// idString is a Graph API id written as a JSON number or string.
type idString string

func (s *idString) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var v string
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
	} else {
		v = string(b)
	}
	if !digitsRE.MatchString(v) {
		return fmt.Errorf("id %q is not digits", abbreviate(v, 40))
	}
	*s = idString(v)
	return nil
}

//go:embed mappings/lead.yaml
var leadMapping []byte

// Mapping compiles the built-in mapping of a lead.
func Mapping() (*mapping.Rules, error) {
	r, err := mapping.Parse("meta/lead.yaml", leadMapping)
	if err != nil {
		return nil, fmt.Errorf("built-in meta lead mapping: %w", err)
	}
	return r, nil
}

// Sign returns the X-Hub-Signature-256 value of body under appSecret, as
// Meta signs a delivery. Tests and the demo use it.
func Sign(appSecret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(appSecret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

var _ http.Handler = (*Receiver)(nil)

package main

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/config"
	"github.com/crmhub/crmhub/connectors/meta"
	"github.com/crmhub/crmhub/connectors/meta/metatest"
	"github.com/crmhub/crmhub/connectors/sample"
	"github.com/crmhub/crmhub/connectors/shopify"
	"github.com/crmhub/crmhub/connectors/webhook"
	"github.com/crmhub/crmhub/pipeline"
	"github.com/crmhub/crmhub/store"
)

// demoConfig is the configuration `crmhub demo` writes into its directory:
// the embedded default, with no secrets and no network, so that every
// command works on it as it is.
const demoConfig = `# Written by 'crmhub demo'. Edit freely: the demo does not overwrite it.
store:
  driver: sqlite
  dsn: crmhub.db          # next to this file
bus:
  driver: sqlite
http:
  listen: "127.0.0.1:8080"
log:
  level: info
  format: text
sources:
  # Realistic shop, ERP, Meta and GA4 records, offline. crmhub demo also
  # adds, in memory, a shopify source demo-shop and a webhook source
  # demo-erp with a webhook secret made for each run, and delivers the
  # shop's and the ERP's records to them as signed webhooks.
  - name: sample
    type: sample
    seed: 1
identity:
  match:
    - email
    - phone
    - {fuzzy: [name, birthday, address, email, phone], threshold: 0.95}
`

func newDemoCmd(g *globals) *cobra.Command {
	var d demo
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run crmhub on its embedded default with realistic sample data, offline",
		Long: `Create a demo directory (./crmhub-demo by default) with a config and an embedded SQLite
store, start crmhub on it as 'crmhub run' does (the REST API, the webhook receivers and the
pipeline), and feed it realistic Shopify-, ERP-, Meta- and GA4-shaped records: the same people
in several sources, Latin, Arabic and Persian spellings, Eastern Arabic digits in phone
numbers, and a few malformed records, which land in the dead letters.

The shop's records arrive as signed Shopify webhooks over HTTP and the ERP's as signed
deliveries to its webhook source; Meta's and GA4's, which have no receivers yet, are landed by
the ingester. Once the pipeline has resolved them,
the demo prints a summary, the API's address and a read token, and keeps running until
SIGINT or SIGTERM (Ctrl-C); with --once it stops after the summary. Needs no config and no
network; the same --seed gives the same records, and running it again changes nothing.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if d.people <= 0 {
				return usagef("--people must be at least 1")
			}
			d.g = g
			return d.run(cmd.Context())
		},
	}
	cmd.Flags().StringVar(&d.dir, "dir", "crmhub-demo", "directory for the demo's config and store")
	cmd.Flags().Uint64Var(&d.seed, "seed", 1, "seed of the sample data; the same seed gives the same records")
	cmd.Flags().IntVar(&d.people, "people", 200, "how many people the sample data describes")
	cmd.Flags().StringVar(&d.listen, "listen", "127.0.0.1:8080",
		"address of the API and webhooks; when it is taken, a free port on 127.0.0.1 is used")
	cmd.Flags().BoolVar(&d.once, "once", false, "stop after the summary instead of running until Ctrl-C")
	return cmd
}

// demo is one run of `crmhub demo`.
type demo struct {
	g            *globals
	dir          string
	seed         uint64
	people       int
	listen       string
	once         bool
	app          *app
	path, secret string // the config file; the webhook secret of demo-shop and demo-erp, demo-leads' app secret
	// graph stands in for Meta's Graph API, from which crmhub reads the
	// leads that demo-leads' webhooks name; graphURL is where it listens.
	graph    *metatest.Graph
	graphURL string
}

// demoSettleStall is how long the demo waits for the pipeline to make
// progress before it gives up on the records it fed.
const demoSettleStall = time.Minute

func (d *demo) run(ctx context.Context) error {
	if err := os.MkdirAll(d.dir, 0o700); err != nil {
		return fmt.Errorf("create demo directory: %w", err)
	}
	d.path = filepath.Join(d.dir, "crmhub.yaml")
	if err := writeIfMissing(d.path, []byte(demoConfig)); err != nil {
		return err
	}
	d.g.configPath = d.path
	app, err := d.g.open(ctx, true)
	if err != nil {
		return err
	}
	defer app.close()
	d.app = app
	stopGraph, err := d.startGraph(ctx)
	if err != nil {
		return err
	}
	defer stopGraph()
	if err := d.addReceivers(); err != nil {
		return err
	}
	ln, err := d.listenOn(ctx)
	if err != nil {
		return err
	}
	defer ln.Close() // serve closes it, unless it fails before serving

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	var feedErr error
	err = app.serve(runCtx, serveOptions{listener: ln, started: func(ctx context.Context) {
		feedErr = d.feed(ctx, baseURL(ln.Addr()))
		if feedErr != nil || d.once {
			stop()
		}
	}})
	if feedErr != nil && ctx.Err() == nil {
		// An interrupted feed is no failure: the user stopped the demo.
		return errors.Join(feedErr, err)
	}
	if err != nil {
		return err
	}
	fprintf(d.g.stdout, "crmhub stopped cleanly; the data stays in %s (serve it again: crmhub run -c %s)\n", d.dir, d.path)
	return nil
}

// startGraph serves the stand-in for Meta's Graph API on a free port of
// 127.0.0.1, until the returned func is called.
func (d *demo) startGraph(ctx context.Context) (func(), error) {
	token := make([]byte, 16)
	if _, err := rand.Read(token); err != nil {
		return nil, fmt.Errorf("make the demo's page token: %w", err)
	}
	d.graph = metatest.NewGraph("demo-page-token-"+hex.EncodeToString(token), "")
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("serve the Graph API stand-in: %w", err)
	}
	d.graphURL = "http://" + ln.Addr().String()
	srv := &http.Server{Handler: d.graph, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return func() { _ = srv.Close() }, nil
}

// addReceivers adds the sample shop, the sample ERP and the sample page's
// lead ads to the loaded config as sources that receive webhooks (a
// shopify, a webhook and a meta one), with a secret made for this run;
// the meta source reads leads from the Graph API stand-in. They are
// added in memory only: config files take secrets from the environment
// alone, and a variable the demo set would be missing for every later
// command on the demo's config (crmhub dlq list, crmhub run).
func (d *demo) addReceivers() error {
	for _, name := range []string{sample.SourceShop, sample.SourceERP, sample.SourceLeads} {
		if slices.ContainsFunc(d.app.cfg.Sources, func(s config.SourceConfig) bool { return s.Name == name }) {
			return usagef("%s has a source named %s, which the demo adds itself: rename it, or use another --dir",
				d.path, name)
		}
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return fmt.Errorf("make the demo's webhook secret: %w", err)
	}
	d.secret = hex.EncodeToString(raw)
	d.app.cfg.Sources = append(d.app.cfg.Sources,
		config.SourceConfig{Name: sample.SourceShop, Type: shopify.SourceType, Shop: sample.ShopDomain,
			WebhookSecret: config.Secret(d.secret)},
		config.SourceConfig{Name: sample.SourceERP, Type: webhook.SourceType, Secret: config.Secret(d.secret),
			SignatureHeader: webhook.DefaultSignatureHeader, DefaultRegion: "AE"},
		config.SourceConfig{Name: sample.SourceLeads, Type: meta.SourceType, AppSecret: config.Secret(d.secret),
			VerifyToken: config.Secret(d.secret), AccessToken: config.Secret(d.graph.Token()), BaseURL: d.graphURL,
			DefaultRegion: "AE"})
	return nil
}

// listenOn listens on --listen, or on a free port of 127.0.0.1 when that
// address is taken (by another demo, say).
func (d *demo) listenOn(ctx context.Context) (net.Listener, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", d.listen)
	if errors.Is(err, syscall.EADDRINUSE) {
		if ln, err = lc.Listen(ctx, "tcp", "127.0.0.1:0"); err == nil {
			fprintf(d.g.stdout, "%s is in use; listening on %s instead\n\n", d.listen, ln.Addr())
		}
	}
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", d.listen, err)
	}
	return ln, nil
}

// baseURL is where a client on this machine reaches a listener: one on
// every interface is reached on the loopback one.
func baseURL(addr net.Addr) string {
	a, ok := addr.(*net.TCPAddr)
	if !ok {
		return "http://" + addr.String()
	}
	host := a.IP.String()
	if a.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, strconv.Itoa(a.Port))
}

// demoIngestWhy says why the demo lands a sample source's records with
// the ingester rather than over HTTP.
var demoIngestWhy = map[string]string{
	"ga4": "GA4 reports are pulled, which needs the network",
}

// demoFeed counts the records of one source and entity the demo fed.
type demoFeed struct {
	source  string
	entity  crmhub.Entity
	topic   string // the Shopify webhook topic, "erp" for the ERP's webhooks, "" for the ingester
	records int
}

// feed sends the sample records into the running crmhub at base, waits
// for the pipeline to resolve them and prints the summary.
func (d *demo) feed(ctx context.Context, base string) error {
	envs := sample.GenerateWithOrders(d.seed, d.people)
	fed, landed, err := d.send(ctx, base, envs)
	if err != nil {
		return err
	}
	out := d.g.stdout
	fprintf(out, "crmhub demo in %s (seed %d, %d people)\n\n", d.dir, d.seed, d.people)
	fprintf(out, "fed %d records, %d of them new to the raw table (a record fed again, or a webhook delivered\n"+
		"again, lands nothing); each new one is published on %s for the pipeline:\n", len(envs), landed, pipeline.TopicRaw)
	for _, f := range fed {
		how := "ingester: " + demoIngestWhy[sample.SourceTypes[f.source]]
		switch f.topic {
		case "":
		case demoERPTopic:
			how = "signed webhooks to POST /webhooks/in/" + f.source + ", 50 records each"
		case demoLeadsTopic:
			how = "signed leadgen webhooks to POST /webhooks/meta/" + f.source + ",\n" +
				strings.Repeat(" ", 39) + "each lead read from a local stand-in for the Graph API"
		default:
			how = "signed " + f.topic + " webhooks to POST /webhooks/shopify/" + f.source
		}
		fprintf(out, "  %-11s %-8s %-9s %4d  %s\n", f.source, sample.SourceTypes[f.source], f.entity, f.records, how)
	}
	return d.printResults(ctx, base)
}

// send delivers the shop's records as webhooks and ingests the others,
// then waits until the pipeline has processed or dead-lettered every
// record that landed. It returns what it fed, by source and entity, and
// how many records landed.
func (d *demo) send(ctx context.Context, base string, envs []crmhub.Envelope) ([]*demoFeed, int64, error) {
	s := d.app.store
	before, err := s.Counts(ctx)
	if err != nil {
		return nil, 0, err
	}
	settledBefore, err := settledNow(ctx, s)
	if err != nil {
		return nil, 0, err
	}
	var fed []*demoFeed
	byKind := map[string]*demoFeed{}
	var rest, erp, leads []crmhub.Envelope
	client := &http.Client{Timeout: 30 * time.Second}
	for _, e := range envs {
		w, hook := sample.ShopifyWebhook(e)
		switch e.Source {
		case sample.SourceERP:
			w.Topic = demoERPTopic
		case sample.SourceLeads:
			w.Topic = demoLeadsTopic
		}
		kind := e.Source + "/" + string(e.Entity)
		f := byKind[kind]
		if f == nil {
			f = &demoFeed{source: e.Source, entity: e.Entity, topic: w.Topic}
			byKind[kind] = f
			fed = append(fed, f)
		}
		f.records++
		switch {
		case e.Source == sample.SourceERP:
			erp = append(erp, e)
		case e.Source == sample.SourceLeads:
			leads = append(leads, e)
		case !hook:
			rest = append(rest, e)
		default:
			if err := d.deliver(ctx, client, base, w); err != nil {
				return nil, 0, err
			}
		}
	}
	for batch := range slices.Chunk(erp, demoERPBatch) {
		if err := d.deliverERP(ctx, client, base, batch); err != nil {
			return nil, 0, err
		}
	}
	for batch := range slices.Chunk(leads, demoLeadsBatch) {
		if err := d.deliverLeads(ctx, client, base, batch); err != nil {
			return nil, 0, err
		}
	}
	// GA4 reports are pulled, not pushed: their rows land the way a pull
	// lands them, in the raw table and on the bus in one transaction.
	if rest, err = notLanded(ctx, s, rest); err != nil {
		return nil, 0, err
	}
	in := pipeline.NewIngester(s, d.app.bus, true)
	if err := in.Ingest(ctx, rest, &pipeline.Checkpoint{Source: "sample", Stream: "records",
		Cursor: fmt.Sprintf("seed=%d people=%d", d.seed, d.people)}); err != nil {
		return nil, 0, err
	}
	after, err := s.Counts(ctx)
	if err != nil {
		return nil, 0, err
	}
	landed := after.RawRecords - before.RawRecords
	if err := waitSettled(ctx, settledBefore, landed, demoSettleStall); err != nil {
		return nil, 0, fmt.Errorf("resolve the sample records: %w", err)
	}
	slices.SortFunc(fed, func(a, b *demoFeed) int {
		return cmp.Or(cmp.Compare(a.source, b.source), cmp.Compare(a.entity, b.entity))
	})
	return fed, landed, nil
}

// printResults prints what the pipeline made of the records, how to look
// at it over the API, and with what token.
func (d *demo) printResults(ctx context.Context, base string) error {
	s, out := d.app.store, d.g.stdout
	token, err := demoToken(ctx, s)
	if err != nil {
		return err
	}
	resolved, err := s.Counts(ctx)
	if err != nil {
		return err
	}
	fprintf(out, "\nresolved into %d profiles (%d merges); %d records in dead letters:\n"+
		"  crmhub dlq list -c %s, or GET /api/v1/dead-letters\n\n",
		resolved.Customers, resolved.Merges, resolved.DeadLetters, d.path)
	if err := printExampleProfile(ctx, d.g, s); err != nil {
		return err
	}
	rep, err := buildStatus(ctx, d.app.cfg, s)
	if err != nil {
		return err
	}
	printStatus(out, rep)
	api := base + "/api/v1"
	fprintf(out, "\nAPI          %s\n", api)
	fprintf(out, "read token   %s\n", token)
	fprintf(out, "             (made for this run; the earlier runs' tokens are revoked)\n")
	fprintf(out, "try          curl -H 'Authorization: Bearer %s' '%s/customers?limit=2'\n", token, api)
	fprintf(out, "next         crmhub export customers -c %s\n\n", d.path)
	if d.once {
		fprintf(out, "stopping (--once)\n")
	} else {
		fprintf(out, "crmhub is running; press Ctrl-C to stop\n")
	}
	return nil
}

// notLanded returns the records of envs that the raw table does not hold
// yet. The ingester publishes every record it is given, landed before or
// not, so that a pull overlapping the last one is processed again; a demo
// run again gains nothing from that, and each malformed record published
// again would add a dead letter.
func notLanded(ctx context.Context, s *store.Store, envs []crmhub.Envelope) ([]crmhub.Envelope, error) {
	const page = 1000
	key := func(source, entity, id, hash string) string {
		return source + "\x00" + entity + "\x00" + id + "\x00" + hash
	}
	sources := map[string]bool{}
	for _, e := range envs {
		sources[e.Source] = true
	}
	landed := map[string]bool{}
	for src := range sources {
		for after := int64(0); ; {
			recs, err := s.RawRecords(ctx, src, after, page)
			if err != nil {
				return nil, err
			}
			for _, r := range recs {
				landed[key(r.Source, r.Entity, r.ExternalID, r.ContentHash)] = true
			}
			if len(recs) < page {
				break
			}
			after = recs[len(recs)-1].ID
		}
	}
	return slices.DeleteFunc(envs, func(e crmhub.Envelope) bool {
		return landed[key(e.Source, string(e.Entity), e.ExternalID, e.ContentHash())]
	}), nil
}

// deliver posts one webhook of the sample shop to crmhub at base, signed
// with the shop's secret as Shopify signs it.
func (d *demo) deliver(ctx context.Context, client *http.Client, base string, w sample.ShopifyDelivery) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/webhooks/shopify/"+sample.SourceShop,
		bytes.NewReader(w.Body))
	if err != nil {
		return fmt.Errorf("deliver webhook %s: %w", w.WebhookID, err)
	}
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set(shopify.HeaderHMAC, shopify.Sign(d.secret, w.Body))
	h.Set(shopify.HeaderTopic, w.Topic)
	h.Set(shopify.HeaderWebhookID, w.WebhookID)
	h.Set(shopify.HeaderEventID, w.EventID)
	h.Set(shopify.HeaderShopDomain, sample.ShopDomain)
	h.Set(shopify.HeaderAPIVersion, config.DefaultShopifyAPIVersion)
	h.Set(shopify.HeaderTriggeredAt, w.TriggeredAt)
	return postOK(client, req, "deliver webhook "+w.WebhookID+" ("+w.Topic+")")
}

// demoERPTopic marks the ERP's records in what the demo fed, and
// demoERPBatch is how many records one of its deliveries carries.
const (
	demoERPTopic = "erp"
	demoERPBatch = 50
)

// deliverERP posts records of the sample ERP to crmhub at base as one
// delivery, a JSON array signed with the ERP's secret, as a webhook
// source's sender does. Its idempotency key is its content's hash, so
// that the demo run again delivers nothing new.
func (d *demo) deliverERP(ctx context.Context, client *http.Client, base string, envs []crmhub.Envelope) error {
	raw := make([]json.RawMessage, len(envs))
	for i, e := range envs {
		raw[i] = e.Payload
	}
	body, err := json.Marshal(raw)
	if err != nil {
		return fmt.Errorf("encode the ERP's delivery: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/webhooks/in/"+sample.SourceERP, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("deliver the ERP's records: %w", err)
	}
	sum := sha256.Sum256(body)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(webhook.DefaultSignatureHeader, webhook.Sign(d.secret, body))
	req.Header.Set(webhook.HeaderIdempotencyKey, "demo-"+hex.EncodeToString(sum[:16]))
	return postOK(client, req, "deliver the ERP's records")
}

// demoLeadsTopic marks the page's leads in what the demo fed, and
// demoLeadsBatch is how many leads one of its deliveries names.
const (
	demoLeadsTopic = "leadgen"
	demoLeadsBatch = 20
)

// deliverLeads makes the leads readable from the Graph API stand-in and
// posts one leadgen webhook naming them to crmhub at base, signed with
// the app secret as Meta signs it.
func (d *demo) deliverLeads(ctx context.Context, client *http.Client, base string, envs []crmhub.Envelope) error {
	type value struct {
		LeadID      json.Number `json:"leadgen_id"`
		PageID      json.Number `json:"page_id"`
		FormID      json.Number `json:"form_id"`
		CreatedTime int64       `json:"created_time"`
	}
	type change struct {
		Field string `json:"field"`
		Value value  `json:"value"`
	}
	changes := make([]change, len(envs))
	for i, e := range envs {
		d.graph.AddLead(e.ExternalID, e.Payload)
		changes[i] = change{Field: "leadgen", Value: value{LeadID: json.Number(e.ExternalID), PageID: sample.PageID,
			FormID: sample.LeadFormID, CreatedTime: e.ReceivedAt.Unix()}}
	}
	body, err := json.Marshal(map[string]any{"object": "page", "entry": []map[string]any{
		{"id": json.Number(sample.PageID), "time": time.Now().Unix(), "changes": changes}}})
	if err != nil {
		return fmt.Errorf("encode the leadgen webhook: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/webhooks/meta/"+sample.SourceLeads, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("deliver the page's leads: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(meta.HeaderSignature, meta.Sign(d.secret, body))
	return postOK(client, req, "deliver the page's leads")
}

// postOK sends a delivery the demo made, and fails unless crmhub answers
// 200; what names the delivery in the error.
func postOK(client *http.Client, req *http.Request, what string) error {
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: crmhub answered %s", what, resp.Status)
	}
	return nil
}

// waitSettled waits until n more messages than at base have left the
// running pipeline. It gives up when none leaves for stall.
func waitSettled(ctx context.Context, base settledCounts, n int64, stall time.Duration) error {
	last, lastAt := int64(-1), time.Now()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		processed, dead, err := settled(ctx, base.s)
		if err != nil {
			return err
		}
		done := processed - base.processed + dead - base.dead
		switch {
		case done >= n:
			return nil
		case done != last:
			last, lastAt = done, time.Now()
		case time.Since(lastAt) > stall:
			return fmt.Errorf("the pipeline processed nothing for %s, with %d of %d records done; see the log",
				stall, done, n)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// demoTokenName names the read tokens the demo makes.
const demoTokenName = "crmhub demo"

// demoToken makes this run's read token and revokes the ones earlier runs
// made: the store keeps only a token's hash, so an old one cannot be shown
// again.
func demoToken(ctx context.Context, s *store.Store) (string, error) {
	toks, err := s.Tokens(ctx)
	if err != nil {
		return "", err
	}
	var secret string
	err = s.InTx(ctx, func(tx *store.Tx) error {
		for _, t := range toks {
			if t.Name == demoTokenName && !t.RevokedAt.Valid {
				if err := tx.RevokeToken(ctx, t.ID); err != nil {
					return err
				}
			}
		}
		var err error
		_, secret, err = tx.CreateToken(ctx, demoTokenName, store.ScopeRead)
		return err
	})
	return secret, err
}

// writeIfMissing writes data to path unless the file exists.
func writeIfMissing(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}

// printExampleProfile shows the profile with the most source records: one
// person as several systems spell them.
func printExampleProfile(ctx context.Context, g *globals, s *store.Store) error {
	var id string
	err := s.ReadDB().QueryRowContext(ctx, `SELECT customer_id FROM identities GROUP BY customer_id
		ORDER BY COUNT(*) DESC, customer_id LIMIT 1`).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("find an example profile: %w", err)
	}
	c, err := s.Customer(ctx, id)
	if err != nil {
		return err
	}
	fprintf(g.stdout, "for example, %s: %s %s, %s, %s\n", c.ID, c.FirstName, c.LastName,
		strings.Join(c.Emails, " "), strings.Join(c.Phones, " "))
	recs, err := s.IdentityRecordsOfCustomers(ctx, []string{id})
	if err != nil {
		return err
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].Source < recs[j].Source })
	for _, r := range recs {
		var rec struct {
			Fields map[string][]string `json:"fields"`
		}
		if err := json.Unmarshal(r.Doc, &rec); err != nil {
			return fmt.Errorf("read record %s: %w", r.RecordKey, err)
		}
		name := strings.TrimSpace(first(rec.Fields["first_name"]) + " " + first(rec.Fields["last_name"]))
		fprintf(g.stdout, "  %-11s %-20s %s\n", r.Source, r.ExternalID, name)
	}
	fprintf(g.stdout, "\n")
	return nil
}

func first(xs []string) string {
	if len(xs) == 0 {
		return ""
	}
	return xs[0]
}

package shopify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/store"
)

// Checkpoint streams of pulled records: each kind has a checkpoint of its
// own.
const (
	StreamCustomers = "customers"
	StreamOrders    = "orders"
)

// Defaults of a pull.
const (
	// DefaultOverlap is how far before the checkpoint a pull starts
	// again: Shopify's search index can lag behind a record's updatedAt,
	// so a record changed just before the last pull ended may only show
	// up now.
	DefaultOverlap = 5 * time.Minute
	// DefaultPageSize is Shopify's largest page, the page of customers.
	DefaultPageSize = 250
	// DefaultOrderPageSize is the largest page of orders one query can
	// afford: with their line items, ten orders cost about 900 of the
	// 1,000 points a single query may cost.
	DefaultOrderPageSize = 10
)

// Lander makes pulled records durable together with the cursor that
// covers them: when Land returns nil both are committed, and the cursor
// never commits without its records. With no records it saves the
// cursor alone. pipeline.Ingester.Ingest with a checkpoint does this.
type Lander interface {
	Land(ctx context.Context, envs []crmhub.Envelope, stream, cursor string) error
}

// Checkpoints reads saved cursors; *store.Store is one.
type Checkpoints interface {
	// Checkpoint returns a stream's cursor, or an error wrapping
	// crmhub.ErrNotFound when it never saved one.
	Checkpoint(ctx context.Context, source, stream string) (store.Checkpoint, error)
}

// Querier carries GraphQL queries; *Client is one.
type Querier interface {
	Query(ctx context.Context, query string, vars, out any) error
}

// PullConfig configures a pull.
type PullConfig struct {
	// Source is the configured source name the records land under.
	Source string
	// Since bounds the first pull, when the stream has no checkpoint:
	// records updated before it are left out. Zero pulls all history.
	Since time.Time
	// Overlap is how far before the checkpoint each later pull starts.
	// Default DefaultOverlap; records read twice are absorbed by the raw
	// table, which keeps the same bytes only once.
	Overlap time.Duration
	// PageSize is how many records one query asks for: customers 1 to
	// DefaultPageSize, orders 1 to DefaultOrderPageSize, which are also
	// the defaults.
	PageSize int
}

// Progress is what a pull has done so far.
type Progress struct {
	Pages, Records int
	// Cursor is the checkpoint saved last; zero before the first one.
	Cursor Cursor
}

// Cursor is the checkpoint of a pull: the updatedAt and id of the last
// record committed, in the pull's (updatedAt, id) order.
type Cursor struct {
	UpdatedAt time.Time `json:"updated_at"`
	ID        string    `json:"id"`
}

// pull pages through one kind of a shop's records updated since the last
// pull of its stream and lands them, page by page, with the checkpoint
// that covers them. CustomerPull and OrderPull are its two kinds.
type pull struct {
	q      Querier
	land   Lander
	cps    Checkpoints
	cfg    PullConfig
	log    *slog.Logger
	stream string
	// fetch asks for one page with vars (first, after, query).
	fetch func(ctx context.Context, vars map[string]any) (fetched, error)
}

// fetched is one page of records, converted.
type fetched struct {
	envs    []crmhub.Envelope
	cursors []Cursor
	hasNext bool
	end     *string
}

// pageInfo is a GraphQL connection's page info.
type pageInfo struct {
	HasNextPage bool    `json:"hasNextPage"`
	EndCursor   *string `json:"endCursor"`
}

// newPull checks cfg and fills in its defaults; maxPage bounds the page
// size, what one query of the kind can afford.
func newPull(q Querier, land Lander, cps Checkpoints, cfg PullConfig, log *slog.Logger, stream string, maxPage int) (*pull, error) {
	what := "shopify " + strings.TrimSuffix(stream, "s") + " pull"
	switch {
	case q == nil || land == nil || cps == nil:
		return nil, fmt.Errorf("%s: missing querier, lander or checkpoints", what)
	case cfg.Source == "":
		return nil, fmt.Errorf("%s: no source name", what)
	case cfg.PageSize < 0 || cfg.PageSize > maxPage:
		return nil, fmt.Errorf("%s: page size %d is not between 1 and %d", what, cfg.PageSize, maxPage)
	case cfg.Overlap < 0:
		return nil, fmt.Errorf("%s: negative overlap %s", what, cfg.Overlap)
	}
	if cfg.PageSize == 0 {
		cfg.PageSize = maxPage
	}
	if cfg.Overlap == 0 {
		cfg.Overlap = DefaultOverlap
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &pull{q: q, land: land, cps: cps, cfg: cfg, stream: stream,
		log: log.With("connector", SourceType, "source", cfg.Source, "stream", stream)}, nil
}

// run pulls once: from the checkpoint minus the overlap (or from Since
// on the first pull) to the newest record. After each page it lands the
// page's records and the cursor of its last one in one commit, so an
// interrupted pull resumes where its last commit left off. progress, when
// not nil, is called after each commit.
func (p *pull) run(ctx context.Context, progress func(Progress)) (Progress, error) {
	var done Progress
	since := p.cfg.Since
	cp, err := p.cps.Checkpoint(ctx, p.cfg.Source, p.stream)
	switch {
	case err == nil:
		var c Cursor
		if err := json.Unmarshal([]byte(cp.Cursor), &c); err != nil {
			return done, fmt.Errorf("shopify %s of %s: read checkpoint %q: %w", p.stream, p.cfg.Source, cp.Cursor, err)
		}
		since, done.Cursor = c.UpdatedAt.Add(-p.cfg.Overlap), c
	case !errors.Is(err, crmhub.ErrNotFound):
		return done, fmt.Errorf("shopify %s of %s: %w", p.stream, p.cfg.Source, err)
	}
	vars := map[string]any{"first": p.cfg.PageSize}
	if !since.IsZero() {
		// Shopify's search reads > as >=; whole seconds are what it keeps.
		vars["query"] = "updated_at:>='" + since.UTC().Truncate(time.Second).Format(time.RFC3339) + "'"
	}
	p.log.Info("shopify pull", "since", since)
	for {
		page, err := p.fetch(ctx, vars)
		if err != nil {
			return done, fmt.Errorf("pull shopify %s of %s, page %d: %w", p.stream, p.cfg.Source, done.Pages+1, err)
		}
		if len(page.envs) > 0 {
			var last Cursor
			for _, c := range page.cursors {
				if cursorLess(last, c) {
					last = c
				}
			}
			// A checkpoint never moves back: an overlap re-read ends
			// where the last pull ended or later.
			if cursorLess(last, done.Cursor) {
				last = done.Cursor
			}
			cur, _ := json.Marshal(last)
			if err := p.land.Land(ctx, page.envs, p.stream, string(cur)); err != nil {
				return done, fmt.Errorf("land shopify %s of %s, page %d: %w", p.stream, p.cfg.Source, done.Pages+1, err)
			}
			done.Cursor = last
		}
		done.Pages++
		done.Records += len(page.envs)
		p.log.Debug("shopify page", "page", done.Pages, "records", len(page.envs))
		if progress != nil {
			progress(done)
		}
		if !page.hasNext || page.end == nil {
			return done, nil
		}
		vars["after"] = *page.end
	}
}

// envelope is a pulled record as it lands: in the webhook's shape, under
// its numeric id, with its updatedAt as version.
func (p *pull) envelope(entity crmhub.Entity, id, updatedAt string, payload []byte) (crmhub.Envelope, Cursor, error) {
	return pulledEnvelope(p.cfg.Source, entity, id, updatedAt, payload)
}

// pulledEnvelope is a record read from the Admin API, by a page query or
// a bulk operation, as it lands: both ways give the same envelope, and
// the raw table keeps a record read both ways once.
func pulledEnvelope(source string, entity crmhub.Entity, id, updatedAt string, payload []byte) (crmhub.Envelope, Cursor, error) {
	at, err := time.Parse(time.RFC3339, updatedAt)
	if err != nil {
		return crmhub.Envelope{}, Cursor{}, fmt.Errorf("%s %s: updatedAt %q: %w", entity, id, updatedAt, err)
	}
	env := crmhub.Envelope{Source: source, SourceType: SourceType, Entity: entity,
		ExternalID: id, Version: updatedAt, Payload: payload}
	return env, Cursor{UpdatedAt: at.UTC(), ID: id}, nil
}

// CustomerPull pages through a shop's customers updated since the last
// pull and lands them, page by page, with the checkpoint that covers
// them.
type CustomerPull struct{ p *pull }

// NewCustomerPull returns a pull of customers, checkpointed as stream
// StreamCustomers. It does no I/O.
func NewCustomerPull(q Querier, land Lander, cps Checkpoints, cfg PullConfig, log *slog.Logger) (*CustomerPull, error) {
	p, err := newPull(q, land, cps, cfg, log, StreamCustomers, DefaultPageSize)
	if err != nil {
		return nil, err
	}
	p.fetch = p.fetchCustomers
	return &CustomerPull{p: p}, nil
}

// Run pulls once: from the checkpoint minus the overlap (or from Since
// on the first pull) to the newest customer. After each page it lands the
// page's customers and the cursor of its last one in one commit, so an
// interrupted pull resumes where its last commit left off. progress, when
// not nil, is called after each commit.
func (c *CustomerPull) Run(ctx context.Context, progress func(Progress)) (Progress, error) {
	return c.p.run(ctx, progress)
}

// customerFields are the fields of a customer the built-in mapping
// reads; the page query and the bulk query both select them.
const customerFields = `id
        firstName
        lastName
        locale
        state
        tags
        numberOfOrders
        amountSpent { amount currencyCode }
        createdAt
        updatedAt
        defaultEmailAddress { emailAddress marketingState }
        defaultPhoneNumber { phoneNumber marketingState }
        defaultAddress { firstName lastName address1 address2 city provinceCode zip countryCodeV2 phone }`

// customersQuery asks for customers in (updatedAt, id) order.
const customersQuery = `query CrmhubCustomers($first: Int!, $after: String, $query: String) {
  customers(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {
    edges {
      cursor
      node {
        ` + customerFields + `
      }
    }
    pageInfo { hasNextPage endCursor }
  }
}`

type customersPage struct {
	Customers struct {
		Edges []struct {
			Node gqlCustomer `json:"node"`
		} `json:"edges"`
		PageInfo pageInfo `json:"pageInfo"`
	} `json:"customers"`
}

func (p *pull) fetchCustomers(ctx context.Context, vars map[string]any) (fetched, error) {
	var page customersPage
	if err := p.q.Query(ctx, customersQuery, vars, &page); err != nil {
		return fetched{}, err
	}
	out := fetched{hasNext: page.Customers.PageInfo.HasNextPage, end: page.Customers.PageInfo.EndCursor}
	for _, e := range page.Customers.Edges {
		payload, id, err := e.Node.webhookShape()
		if err != nil {
			return fetched{}, crmhub.Permanent(err)
		}
		env, c, err := p.envelope(crmhub.EntityCustomer, id, e.Node.UpdatedAt, payload)
		if err != nil {
			return fetched{}, crmhub.Permanent(err)
		}
		out.envs, out.cursors = append(out.envs, env), append(out.cursors, c)
	}
	return out, nil
}

// cursorLess orders cursors by (updatedAt, id), ids as numbers.
func cursorLess(a, b Cursor) bool {
	if !a.UpdatedAt.Equal(b.UpdatedAt) {
		return a.UpdatedAt.Before(b.UpdatedAt)
	}
	return crmhub.CompareVersions(a.ID, b.ID) < 0
}

// gqlCustomer is a Customer node as customersQuery selects it.
type gqlCustomer struct {
	ID             string   `json:"id"`
	FirstName      *string  `json:"firstName"`
	LastName       *string  `json:"lastName"`
	Locale         string   `json:"locale"`
	State          string   `json:"state"`
	Tags           []string `json:"tags"`
	NumberOfOrders string   `json:"numberOfOrders"`
	AmountSpent    *struct {
		Amount       string `json:"amount"`
		CurrencyCode string `json:"currencyCode"`
	} `json:"amountSpent"`
	CreatedAt           string `json:"createdAt"`
	UpdatedAt           string `json:"updatedAt"`
	DefaultEmailAddress *struct {
		EmailAddress   string `json:"emailAddress"`
		MarketingState string `json:"marketingState"`
	} `json:"defaultEmailAddress"`
	DefaultPhoneNumber *struct {
		PhoneNumber    string `json:"phoneNumber"`
		MarketingState string `json:"marketingState"`
	} `json:"defaultPhoneNumber"`
	DefaultAddress *struct {
		FirstName     *string `json:"firstName"`
		LastName      *string `json:"lastName"`
		Address1      *string `json:"address1"`
		Address2      *string `json:"address2"`
		City          *string `json:"city"`
		ProvinceCode  *string `json:"provinceCode"`
		Zip           *string `json:"zip"`
		CountryCodeV2 *string `json:"countryCodeV2"`
		Phone         *string `json:"phone"`
	} `json:"defaultAddress"`
}

// restCustomer is a customer as webhooks (customers/create, update) and
// the REST Admin API write it: the shape the built-in mapping reads. A
// pulled customer lands in it so that both ways in map alike.
type restCustomer struct {
	ID                    json.Number  `json:"id"`
	Email                 *string      `json:"email"`
	Phone                 *string      `json:"phone"`
	FirstName             *string      `json:"first_name"`
	LastName              *string      `json:"last_name"`
	State                 string       `json:"state,omitempty"`
	Tags                  string       `json:"tags"`
	OrdersCount           json.Number  `json:"orders_count,omitempty"`
	TotalSpent            string       `json:"total_spent,omitempty"`
	Currency              string       `json:"currency,omitempty"`
	Locale                string       `json:"locale,omitempty"`
	CreatedAt             string       `json:"created_at"`
	UpdatedAt             string       `json:"updated_at"`
	EmailMarketingConsent *restConsent `json:"email_marketing_consent"`
	SMSMarketingConsent   *restConsent `json:"sms_marketing_consent"`
	DefaultAddress        *restAddress `json:"default_address"`
	AdminGraphQLAPIID     string       `json:"admin_graphql_api_id"`
}

type restConsent struct {
	State string `json:"state"`
}

type restAddress struct {
	FirstName    *string `json:"first_name"`
	LastName     *string `json:"last_name"`
	Address1     *string `json:"address1"`
	Address2     *string `json:"address2"`
	City         *string `json:"city"`
	ProvinceCode *string `json:"province_code"`
	Zip          *string `json:"zip"`
	CountryCode  *string `json:"country_code"`
	Phone        *string `json:"phone"`
	Default      bool    `json:"default"`
}

// CustomerID returns the numeric id of a GraphQL customer id
// (gid://shopify/Customer/N): the id webhooks carry, under which both
// land.
func CustomerID(gid string) (string, error) { return gidNumber(gid, "Customer") }

// OrderID returns the numeric id of a GraphQL order id
// (gid://shopify/Order/N), as CustomerID does for customers.
func OrderID(gid string) (string, error) { return gidNumber(gid, "Order") }

func gidNumber(gid, kind string) (string, error) {
	id, ok := strings.CutPrefix(gid, "gid://shopify/"+kind+"/")
	if !ok || id == "" || strings.Trim(id, "0123456789") != "" {
		return "", fmt.Errorf("%q is not a Shopify %s id", gid, strings.ToLower(kind))
	}
	return id, nil
}

// webhookShape returns the customer as a webhook payload, and its id.
func (n gqlCustomer) webhookShape() ([]byte, string, error) {
	id, err := CustomerID(n.ID)
	if err != nil {
		return nil, "", err
	}
	r := restCustomer{ID: json.Number(id), FirstName: n.FirstName, LastName: n.LastName,
		State: strings.ToLower(n.State), Tags: strings.Join(n.Tags, ", "), Locale: n.Locale,
		CreatedAt: n.CreatedAt, UpdatedAt: n.UpdatedAt, AdminGraphQLAPIID: n.ID}
	// numberOfOrders is a string in GraphQL (an UnsignedInt64); it stays
	// a number with the same digits.
	if o := n.NumberOfOrders; o != "" && strings.Trim(o, "0123456789") == "" {
		r.OrdersCount = json.Number(o)
	}
	if a := n.AmountSpent; a != nil {
		r.TotalSpent, r.Currency = a.Amount, a.CurrencyCode
	}
	if e := n.DefaultEmailAddress; e != nil {
		r.Email = &e.EmailAddress
		r.EmailMarketingConsent = consent(e.MarketingState)
	}
	if p := n.DefaultPhoneNumber; p != nil {
		r.Phone = &p.PhoneNumber
		r.SMSMarketingConsent = consent(p.MarketingState)
	}
	if a := n.DefaultAddress; a != nil {
		r.DefaultAddress = &restAddress{FirstName: a.FirstName, LastName: a.LastName, Address1: a.Address1,
			Address2: a.Address2, City: a.City, ProvinceCode: a.ProvinceCode, Zip: a.Zip, CountryCode: a.CountryCodeV2,
			Phone: a.Phone, Default: true}
	}
	b, err := json.Marshal(r)
	if err != nil {
		return nil, "", fmt.Errorf("customer %s: %w", id, err)
	}
	return b, id, nil
}

// consent writes a GraphQL marketing state (SUBSCRIBED) as webhooks do
// (subscribed).
func consent(state string) *restConsent {
	if state == "" {
		return nil
	}
	return &restConsent{State: strings.ToLower(state)}
}

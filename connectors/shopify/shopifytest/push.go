package shopifytest

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

// The fake's write side: the tagsAdd, tagsRemove, metafieldsSet and
// metafieldsDelete mutations on customers, one customer's tags and
// metafields by id, and the customers/update webhook Shopify sends after
// every change, crmhub's own writes included (the echo).

// Metafield is one metafield of a customer: its type and its value as
// text.
type Metafield struct {
	Type, Value string
}

// Mutation is one request that carried mutations, as the fake applied it.
type Mutation struct {
	// CustomerID is the customer the mutations addressed.
	CustomerID                int64
	AddTags, RemoveTags       []string
	SetMetafields             map[string]Metafield // by namespace.key
	DeleteMetafields          []string             // namespace.key
	Refused                   bool                 // answered with user errors, nothing applied
	CustomerDidNotExist       bool
	ChangedTags, ChangedMetas bool
}

// WebhookTarget is where the fake delivers its webhooks, as a webhook
// subscription of the app does.
type WebhookTarget struct {
	// URL receives the POSTs.
	URL string
	// Secret signs them (the app's client secret).
	Secret string
	// Shop is the X-Shopify-Shop-Domain. Default example.myshopify.com.
	Shop string
}

// WebhookStats count the webhooks the fake delivered.
type WebhookStats struct {
	// Delivered were answered 2xx; Failed otherwise or not at all.
	Delivered, Failed int
	// InFlight are being delivered now.
	InFlight int
}

// pushFake is the state of the write side, under Server.mu.
type pushFake struct {
	metafields map[int64]map[string]Metafield // by customer, by namespace.key
	mutations  []Mutation
	target     *WebhookTarget
	prefix     string // of webhook ids: unique per fake
	seq        int
	webhooks   WebhookStats
	inFlight   sync.WaitGroup
}

var (
	tagsAddRE          = regexp.MustCompile(`tagsAdd\s*\(\s*id:\s*\$(\w+)\s*,\s*tags:\s*\$(\w+)\s*\)`)
	tagsRemoveRE       = regexp.MustCompile(`tagsRemove\s*\(\s*id:\s*\$(\w+)\s*,\s*tags:\s*\$(\w+)\s*\)`)
	metafieldsSetRE    = regexp.MustCompile(`metafieldsSet\s*\(\s*metafields:\s*\$(\w+)\s*\)`)
	metafieldsDeleteRE = regexp.MustCompile(`metafieldsDelete\s*\(\s*metafields:\s*\$(\w+)\s*\)`)
	customerRE         = regexp.MustCompile(`customer\s*\(\s*id:\s*\$(\w+)\s*\)`)
	metafieldsNSRE     = regexp.MustCompile(`metafields\s*\(\s*namespace:\s*\$(\w+)`)
	namespaceRE        = regexp.MustCompile(`^[A-Za-z0-9_-]{3,255}$`)
	keyRE              = regexp.MustCompile(`^[A-Za-z0-9_-]{2,64}$`)
)

// mutationCost is what Shopify charges for one mutation field.
const mutationCost = 10

// maxMetafieldsSet is the most metafields one metafieldsSet takes.
const maxMetafieldsSet = 25

// SendWebhooks makes the fake deliver a customers/update webhook to w
// after every change a mutation makes to a customer, as Shopify does for
// an app subscribed to the topic: signed, asynchronously, once per
// change. The test waits for deliveries in flight when it ends.
func (s *Server) SendWebhooks(t testing.TB, w WebhookTarget) {
	t.Helper()
	if w.Shop == "" {
		w.Shop = "example.myshopify.com"
	}
	s.mu.Lock()
	s.push.target = &w
	s.mu.Unlock()
	t.Cleanup(s.push.inFlight.Wait)
}

// Webhooks returns the counts of webhook deliveries so far.
func (s *Server) Webhooks() WebhookStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.push.webhooks
}

// Notify delivers a webhook of topic with the customer's current state to
// the target of SendWebhooks and waits for the answer, as Shopify does
// after a merchant's change; it returns the HTTP status.
func (s *Server) Notify(topic string, id int64) (int, error) {
	s.mu.Lock()
	c, ok := s.customerLocked(id)
	target := s.push.target
	var hook webhook
	if ok && target != nil {
		hook = s.webhookLocked(topic, c)
	}
	s.mu.Unlock()
	switch {
	case !ok:
		return 0, fmt.Errorf("the fake shop has no customer %d", id)
	case target == nil:
		return 0, fmt.Errorf("the fake shop has no webhook target: call SendWebhooks")
	}
	return hook.deliver(*target)
}

// Customer returns the customer with id as the shop has it now.
func (s *Server) Customer(id int64) (Customer, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.customerLocked(id)
	c.Tags = slices.Clone(c.Tags)
	return c, ok
}

// Metafields returns the metafields of a customer, by namespace.key.
func (s *Server) Metafields(id int64) map[string]Metafield {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.push.metafields[id])
}

// PutMetafields sets metafields on a customer, as another app or the
// merchant would, without a webhook.
func (s *Server) PutMetafields(id int64, ms map[string]Metafield) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.push.metafields == nil {
		s.push.metafields = map[int64]map[string]Metafield{}
	}
	if s.push.metafields[id] == nil {
		s.push.metafields[id] = map[string]Metafield{}
	}
	maps.Copy(s.push.metafields[id], ms)
}

// Mutations returns the requests that carried mutations, oldest first.
func (s *Server) Mutations() []Mutation {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.push.mutations)
}

func (s *Server) customerLocked(id int64) (Customer, bool) {
	i := slices.IndexFunc(s.customers, func(c Customer) bool { return c.ID == id })
	if i < 0 {
		return Customer{}, false
	}
	return s.customers[i], true
}

// answerPush answers the write side's mutations and the query of one
// customer; ok is false for other requests.
func (s *Server) answerPush(req request) (any, bool) {
	fields := 0
	for _, re := range []*regexp.Regexp{tagsAddRE, tagsRemoveRE, metafieldsSetRE, metafieldsDeleteRE} {
		if re.MatchString(req.Query) {
			fields++
		}
	}
	switch {
	case fields > 0:
		return s.answerMutation(req, fields), true
	case customerRE.MatchString(req.Query):
		return s.answerCustomer(req), true
	}
	return nil, false
}

// variable decodes the request variable named by the first group of re's
// match in the query into out.
func variable(req request, re *regexp.Regexp, group int, out any) error {
	m := re.FindStringSubmatch(req.Query)
	if m == nil {
		return nil
	}
	raw, ok := req.raw.Variables[m[group]]
	if !ok {
		return fmt.Errorf("Variable $%s is used by the operation but not given.", m[group])
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("Variable $%s of type is invalid: %v", m[group], err)
	}
	return nil
}

type metafieldInput struct {
	OwnerID   string `json:"ownerId"`
	Namespace string `json:"namespace"`
	Key       string `json:"key"`
	Type      string `json:"type"`
	Value     string `json:"value"`
}

type userError struct {
	Field   []string `json:"field"`
	Message string   `json:"message"`
	Code    string   `json:"code,omitempty"`
}

// pushRequest is a mutation request as the fake reads it.
type pushRequest struct {
	tagsID, removeID          string
	add, remove               []string
	set                       []metafieldInput
	del                       []metafieldInput
	hasAdd, hasRemove         bool
	hasSet, hasDel            bool
	customerID                int64
	customerGID               string
	customerErrs, setErrs     []userError
	deleteErrs                []userError
	changedTags, changedMetas bool
}

func readPushRequest(req request) (*pushRequest, error) {
	p := &pushRequest{hasAdd: tagsAddRE.MatchString(req.Query), hasRemove: tagsRemoveRE.MatchString(req.Query),
		hasSet: metafieldsSetRE.MatchString(req.Query), hasDel: metafieldsDeleteRE.MatchString(req.Query)}
	for _, v := range []struct {
		re    *regexp.Regexp
		group int
		out   any
	}{
		{tagsAddRE, 1, &p.tagsID}, {tagsAddRE, 2, &p.add}, {tagsRemoveRE, 1, &p.removeID}, {tagsRemoveRE, 2, &p.remove},
		{metafieldsSetRE, 1, &p.set}, {metafieldsDeleteRE, 1, &p.del},
	} {
		if err := variable(req, v.re, v.group, v.out); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// answerMutation applies a request's mutations to one customer, in
// Shopify's order of execution, and answers their payloads.
func (s *Server) answerMutation(req request, fields int) any {
	p, err := readPushRequest(req)
	if err != nil {
		return gqlErrors(nil, err.Error(), "")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cost := float64(fields * mutationCost)
	if refused := s.charge(cost, "write_customers", "customer"); refused != nil {
		return refused
	}
	p.customerGID = firstOf(p.removeID, p.tagsID)
	for _, m := range append(slices.Clone(p.set), p.del...) {
		p.customerGID = firstOf(p.customerGID, m.OwnerID)
	}
	id, _ := strconv.ParseInt(strings.TrimPrefix(p.customerGID, "gid://shopify/Customer/"), 10, 64)
	p.customerID = id
	mut := Mutation{CustomerID: id, AddTags: p.add, RemoveTags: p.remove, SetMetafields: map[string]Metafield{}}
	for _, m := range p.set {
		mut.SetMetafields[m.Namespace+"."+m.Key] = Metafield{Type: m.Type, Value: m.Value}
	}
	for _, m := range p.del {
		mut.DeleteMetafields = append(mut.DeleteMetafields, m.Namespace+"."+m.Key)
	}
	i := slices.IndexFunc(s.customers, func(c Customer) bool { return c.ID == id })
	if i < 0 {
		mut.CustomerDidNotExist, mut.Refused = true, true
		s.push.mutations = append(s.push.mutations, mut)
		s.spend(cost)
		return s.mutationAnswer(p, nil, cost)
	}
	p.validate()
	if len(p.customerErrs)+len(p.setErrs)+len(p.deleteErrs) > 0 {
		mut.Refused = true
		s.push.mutations = append(s.push.mutations, mut)
		s.spend(cost)
		return s.mutationAnswer(p, &s.customers[i], cost)
	}
	s.apply(p, i)
	mut.ChangedTags, mut.ChangedMetas = p.changedTags, p.changedMetas
	s.push.mutations = append(s.push.mutations, mut)
	c := s.customers[slices.IndexFunc(s.customers, func(c Customer) bool { return c.ID == id })]
	if (p.changedTags || p.changedMetas) && s.push.target != nil {
		s.deliverAsync(s.webhookLocked("customers/update", c))
	}
	s.spend(cost)
	return s.mutationAnswer(p, &c, cost)
}

func firstOf(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// spend takes a request's cost from the bucket; the caller holds s.mu.
func (s *Server) spend(cost float64) { s.level -= cost }

// validate checks what Shopify checks of the input, as user errors.
func (p *pushRequest) validate() {
	for _, t := range append(slices.Clone(p.add), p.remove...) {
		if strings.TrimSpace(t) == "" || len([]rune(t)) > 255 {
			p.customerErrs = append(p.customerErrs, userError{Field: []string{"tags"}, Message: fmt.Sprintf("Tag %q is invalid", t)})
		}
	}
	if len(p.set) > maxMetafieldsSet {
		p.setErrs = append(p.setErrs, userError{Field: []string{"metafields"}, Code: "LESS_THAN_OR_EQUAL_TO",
			Message: fmt.Sprintf("Exceeded the maximum metafields input limit of %d.", maxMetafieldsSet)})
	}
	for j, m := range p.set {
		field := []string{"metafields", strconv.Itoa(j)}
		switch {
		case m.OwnerID != p.customerGID:
			p.setErrs = append(p.setErrs, userError{Field: append(field, "ownerId"), Code: "INVALID", Message: "the fake takes one customer a request"})
		case !namespaceRE.MatchString(m.Namespace):
			p.setErrs = append(p.setErrs, userError{Field: append(field, "namespace"), Code: "INVALID",
				Message: "Namespace must be 3-255 characters long and can contain alphanumeric, hyphen, and underscore characters."})
		case !keyRE.MatchString(m.Key):
			p.setErrs = append(p.setErrs, userError{Field: append(field, "key"), Code: "INVALID",
				Message: "Key must be 2-64 characters long and can contain alphanumeric, hyphen, and underscore characters."})
		default:
			if msg := checkValue(m.Type, m.Value); msg != "" {
				p.setErrs = append(p.setErrs, userError{Field: append(field, "value"), Code: "INVALID_VALUE", Message: msg})
			}
		}
	}
	for j, m := range p.del {
		if m.OwnerID != p.customerGID {
			p.deleteErrs = append(p.deleteErrs, userError{Field: []string{"metafields", strconv.Itoa(j), "ownerId"},
				Message: "the fake takes one customer a request"})
		}
	}
}

// checkValue validates a metafield value of the types crmhub writes.
func checkValue(typ, value string) string {
	switch typ {
	case "single_line_text_field":
		if strings.ContainsAny(value, "\r\n") {
			return "Value must be a single line of text."
		}
	case "list.single_line_text_field":
		var vs []string
		if err := json.Unmarshal([]byte(value), &vs); err != nil {
			return "Value must be a JSON array of strings."
		}
	case "number_decimal":
		if _, err := decimal.NewFromString(value); err != nil {
			return "Value must be a decimal number."
		}
	case "number_integer":
		if _, err := strconv.ParseInt(value, 10, 64); err != nil {
			return "Value must be an integer."
		}
	case "json":
		if !json.Valid([]byte(value)) {
			return "Value must be valid JSON."
		}
	case "":
		return "Type can't be blank when there is no definition."
	default:
		return fmt.Sprintf("Type %q is not supported by the fake.", typ)
	}
	return ""
}

// apply makes the mutations' changes to customer i; the caller holds s.mu.
func (s *Server) apply(p *pushRequest, i int) {
	c := &s.customers[i]
	tags := slices.Clone(c.Tags)
	for _, t := range p.remove {
		tags = slices.DeleteFunc(tags, func(x string) bool { return strings.EqualFold(x, t) })
	}
	for _, t := range p.add {
		if !slices.ContainsFunc(tags, func(x string) bool { return strings.EqualFold(x, t) }) {
			tags = append(tags, t)
		}
	}
	slices.Sort(tags)
	p.changedTags = !slices.Equal(tags, sortedClone(c.Tags))
	c.Tags = tags
	if s.push.metafields == nil {
		s.push.metafields = map[int64]map[string]Metafield{}
	}
	ms := s.push.metafields[c.ID]
	if ms == nil {
		ms = map[string]Metafield{}
		s.push.metafields[c.ID] = ms
	}
	for _, m := range p.set {
		k, v := m.Namespace+"."+m.Key, Metafield{Type: m.Type, Value: m.Value}
		if ms[k] != v {
			ms[k], p.changedMetas = v, true
		}
	}
	for _, m := range p.del {
		if _, ok := ms[m.Namespace+"."+m.Key]; ok {
			delete(ms, m.Namespace+"."+m.Key)
			p.changedMetas = true
		}
	}
	if p.changedTags || p.changedMetas {
		// Shopify keeps whole seconds. The fake moves updatedAt on by at
		// least one with every change, so that tests tell each version
		// of a customer from the one before.
		at := s.now().UTC().Truncate(time.Second)
		if !at.After(c.UpdatedAt) {
			at = c.UpdatedAt.Add(time.Second)
		}
		c.UpdatedAt = at
		slices.SortFunc(s.customers, compareCustomers)
	}
}

func sortedClone(xs []string) []string {
	out := slices.Clone(xs)
	slices.Sort(out)
	return out
}

// mutationAnswer writes the payloads of a request's mutations; c is the
// customer as it is now, nil when it does not exist.
func (s *Server) mutationAnswer(p *pushRequest, c *Customer, cost float64) any {
	var node any
	if c != nil {
		node = customerNode(*c)
	}
	notFound := []userError{{Field: []string{"id"}, Message: "Customer does not exist"}}
	tagErrs := p.customerErrs
	if c == nil {
		tagErrs = notFound
	}
	data := map[string]any{}
	if p.hasRemove {
		data["tagsRemove"] = map[string]any{"node": node, "userErrors": orEmpty(tagErrs)}
	}
	if p.hasAdd {
		data["tagsAdd"] = map[string]any{"node": node, "userErrors": orEmpty(tagErrs)}
	}
	if p.hasSet {
		errs := p.setErrs
		if c == nil {
			errs = []userError{{Field: []string{"metafields", "0", "ownerId"}, Code: "INVALID", Message: "Owner does not exist"}}
		}
		var set []any
		if len(errs) == 0 && len(p.customerErrs)+len(p.deleteErrs) == 0 {
			for _, m := range p.set {
				set = append(set, map[string]any{"key": m.Key, "namespace": m.Namespace, "type": m.Type, "value": m.Value, "owner": node})
			}
		}
		data["metafieldsSet"] = map[string]any{"metafields": set, "userErrors": orEmpty(errs)}
	}
	if p.hasDel {
		var deleted []any
		for _, m := range p.del {
			deleted = append(deleted, map[string]any{"key": m.Key, "namespace": m.Namespace, "ownerId": m.OwnerID})
		}
		data["metafieldsDelete"] = map[string]any{"deletedMetafields": deleted, "userErrors": orEmpty(p.deleteErrs)}
	}
	return map[string]any{"data": data, "extensions": s.cost(cost, &cost)}
}

func orEmpty(errs []userError) []userError {
	if errs == nil {
		return []userError{}
	}
	return errs
}

func customerNode(c Customer) map[string]any {
	return map[string]any{"id": fmt.Sprintf("gid://shopify/Customer/%d", c.ID), "tags": append([]string{}, c.Tags...),
		"updatedAt": c.UpdatedAt.UTC().Format(time.RFC3339)}
}

// answerCustomer answers the query of one customer with its tags and the
// metafields of one namespace.
func (s *Server) answerCustomer(req request) any {
	var gid, ns string
	if err := variable(req, customerRE, 1, &gid); err != nil {
		return gqlErrors(nil, err.Error(), "")
	}
	if err := variable(req, metafieldsNSRE, 1, &ns); err != nil {
		return gqlErrors(nil, err.Error(), "")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	const requested = 1 + 2 + maxMetafieldsSet
	if refused := s.charge(requested, "read_customers", "customer"); refused != nil {
		return refused
	}
	id, _ := strconv.ParseInt(strings.TrimPrefix(gid, "gid://shopify/Customer/"), 10, 64)
	c, ok := s.customerLocked(id)
	if !ok {
		return s.answerData(requested, 1, map[string]any{"customer": nil})
	}
	n := customerNode(c)
	nodes := []any{}
	for _, k := range slices.Sorted(maps.Keys(s.push.metafields[id])) {
		if mns, key, _ := strings.Cut(k, "."); mns == ns {
			m := s.push.metafields[id][k]
			nodes = append(nodes, map[string]any{"namespace": mns, "key": key, "type": m.Type, "value": m.Value})
		}
	}
	n["metafields"] = map[string]any{"nodes": nodes}
	return s.answerData(requested, float64(3+len(nodes)), map[string]any{"customer": n})
}

// webhook is one delivery, ready to send.
type webhook struct {
	topic, id string
	body      []byte
	s         *Server
}

// shopZone is the fake shop's time zone: webhooks write times in it, as
// Shopify writes them in the shop's.
var shopZone = time.FixedZone("GST", 4*3600)

// webhookLocked builds a delivery of topic for c, as Shopify writes a
// customer in webhooks; the caller holds s.mu.
func (s *Server) webhookLocked(topic string, c Customer) webhook {
	if s.push.prefix == "" {
		b := make([]byte, 4)
		_, _ = rand.Read(b)
		s.push.prefix = hex.EncodeToString(b)
	}
	s.push.seq++
	body, _ := json.Marshal(restCustomer(c))
	return webhook{topic: topic, id: fmt.Sprintf("%s-0000-4000-8000-%012d", s.push.prefix, s.push.seq), body: body, s: s}
}

// restCustomer is c as the customers/create and customers/update webhooks
// write it.
func restCustomer(c Customer) map[string]any {
	out := map[string]any{
		"id": c.ID, "email": nullable(c.Email), "phone": nullable(c.Phone), "first_name": nullable(c.FirstName),
		"last_name": nullable(c.LastName), "state": strings.ToLower(c.State), "tags": strings.Join(c.Tags, ", "),
		"orders_count": c.NumberOfOrders, "total_spent": c.AmountSpent, "currency": c.Currency, "locale": c.Locale,
		"created_at": c.CreatedAt.In(shopZone).Format(time.RFC3339), "updated_at": c.UpdatedAt.In(shopZone).Format(time.RFC3339),
		"admin_graphql_api_id": fmt.Sprintf("gid://shopify/Customer/%d", c.ID), "addresses": []any{},
	}
	if c.EmailMarketing != "" {
		out["email_marketing_consent"] = map[string]any{"state": strings.ToLower(c.EmailMarketing)}
	}
	if c.SMSMarketing != "" {
		out["sms_marketing_consent"] = map[string]any{"state": strings.ToLower(c.SMSMarketing)}
	}
	if a := c.Address; a != nil {
		addr := map[string]any{"first_name": nullable(a.FirstName), "last_name": nullable(a.LastName),
			"address1": nullable(a.Address1), "address2": nullable(a.Address2), "city": nullable(a.City),
			"province_code": nullable(a.ProvinceCode), "zip": nullable(a.Zip), "country_code": nullable(a.CountryCode),
			"phone": nullable(a.Phone), "default": true}
		out["default_address"], out["addresses"] = addr, []any{addr}
	}
	return out
}

// deliverAsync sends h in the background, as Shopify does; the caller
// holds s.mu.
func (s *Server) deliverAsync(h webhook) {
	target := *s.push.target
	s.push.webhooks.InFlight++
	s.push.inFlight.Add(1)
	go func() {
		defer s.push.inFlight.Done()
		_, _ = h.deliver(target)
		s.mu.Lock()
		s.push.webhooks.InFlight--
		s.mu.Unlock()
	}()
}

// deliver POSTs the webhook, signed, and counts the outcome. Shopify
// waits 5 seconds for an answer.
func (h webhook) deliver(t WebhookTarget) (int, error) {
	status, err := h.post(t)
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	if err == nil && status/100 == 2 {
		h.s.push.webhooks.Delivered++
	} else {
		h.s.push.webhooks.Failed++
	}
	return status, err
}

func (h webhook) post(t WebhookTarget) (int, error) {
	req, err := http.NewRequest(http.MethodPost, t.URL, bytes.NewReader(h.body))
	if err != nil {
		return 0, err
	}
	mac := hmac.New(sha256.New, []byte(t.Secret))
	mac.Write(h.body)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Shopify-Topic", h.topic)
	req.Header.Set("X-Shopify-Hmac-Sha256", base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	req.Header.Set("X-Shopify-Shop-Domain", t.Shop)
	req.Header.Set("X-Shopify-API-Version", h.s.opts.APIVersion)
	req.Header.Set("X-Shopify-Webhook-Id", h.id)
	req.Header.Set("X-Shopify-Event-Id", h.id)
	req.Header.Set("X-Shopify-Triggered-At", time.Now().UTC().Format(time.RFC3339Nano))
	client := http.Client{Timeout: 5 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

// rawRequest keeps a request's variables as they came, by name.
type rawRequest struct {
	Variables map[string]json.RawMessage `json:"variables"`
}

// Package sample generates realistic records in the shapes crmhub's real
// sources deliver (Shopify customer and order webhooks, ERP customer
// webhooks, Meta lead ads, GA4 report rows), for the demo and for tests
// that need many records without a network.
//
// The same people appear in several sources, spelled differently: Latin,
// Arabic and Persian script, Eastern Arabic and Persian digits in phone
// numbers, upper-case emails. A few records are malformed on purpose so the
// dead-letter path has something to show.
package sample

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/crmhub/crmhub"
)

// Source names the generator uses, with the connector type each imitates.
const (
	SourceShop  = "demo-shop"  // shopify
	SourceERP   = "demo-erp"   // webhook
	SourceLeads = "demo-leads" // meta
	SourceGA4   = "demo-ga4"   // ga4
)

// The sample page and lead form: demo-leads' webhooks name them.
const (
	PageID     = "103356789012345"
	LeadFormID = "1187654321098765"
)

// SourceTypes maps each sample source to the connector type it imitates.
var SourceTypes = map[string]string{
	SourceShop: "shopify", SourceERP: "webhook", SourceLeads: "meta", SourceGA4: "ga4",
}

type person struct {
	first, last       string // Latin spelling, as the shop has it
	firstAlt, lastAlt string // native-script spelling, as the ERP has it
	email, phoneLocal string
	country, city     string
	region            string // E.164 country calling code without +
}

// people are the templates; Generate varies them with the seed.
var people = []person{
	{"Sara", "Al Amiri", "سارة", "العامري", "sara.amiri", "501234567", "AE", "Dubai", "971"},
	{"Mohammed", "Al Farsi", "محمد", "الفارسي", "m.alfarsi", "552345678", "AE", "Abu Dhabi", "971"},
	{"Zahra", "Ahmadi", "زهرا", "احمدی", "zahra.ahmadi", "9123456789", "IR", "Tehran", "98"},
	{"Ali", "Rezaei", "علی", "رضایی", "ali.rezaei", "9351234567", "IR", "Shiraz", "98"},
	{"Fatima", "Haddad", "فاطمة", "حداد", "fatima.haddad", "791234567", "JO", "Amman", "962"},
	{"Youssef", "El Idrissi", "يوسف", "الإدريسي", "y.idrissi", "612345678", "MA", "Casablanca", "212"},
	{"Lena", "Fischer", "Lena", "Fischer", "lena.fischer", "15112345678", "DE", "Berlin", "49"},
	{"Omar", "Khalil", "عمر", "خليل", "omar.k", "1001234567", "EG", "Cairo", "20"},
	{"Maryam", "Hosseini", "مریم", "حسینی", "maryam.h", "9121112233", "IR", "Isfahan", "98"},
	{"James", "Walker", "James", "Walker", "jwalker", "7700900123", "GB", "London", "44"},
}

var transliterations = map[string]string{"Mohammed": "Muhammad", "Youssef": "Yusuf", "Fatima": "Fatimah"}

// Generate returns the records of n people, reproducibly for a seed, in
// the order the sources would deliver them. Roughly: everyone has a shop
// customer record; half also appear in the ERP under their native-script
// name; a third arrive as Meta leads; most have GA4 activity; and two
// records are malformed. Each source's records are of one entity, which
// its mapping in Mappings maps.
func Generate(seed uint64, n int) []crmhub.Envelope { return generate(seed, n, false) }

// GenerateWithOrders is Generate with the shop's orders too: every third
// person has ordered once, a few days after signing up. The shop then
// delivers two entities, and its orders are mapped by the shopify
// connector's built-in order mapping, not by Mappings.
func GenerateWithOrders(seed uint64, n int) []crmhub.Envelope { return generate(seed, n, true) }

func generate(seed uint64, n int, withOrders bool) []crmhub.Envelope {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	// Orders draw from their own generator, so that the other records of a
	// seed are the same with and without them.
	orderRNG := rand.New(rand.NewPCG(seed^0x6a09e667f3bcc909, seed))
	base := time.Date(2026, 10, 1, 9, 0, 0, 0, time.UTC)
	var out []crmhub.Envelope
	add := func(source string, entity crmhub.Entity, id, version string, payload any) {
		b, err := json.Marshal(payload)
		if err != nil {
			panic(err) // the generator's own values always encode
		}
		out = append(out, envelope(source, entity, id, version, b))
	}
	for i := range n {
		p := people[i%len(people)]
		suffix := ""
		if i >= len(people) {
			suffix = fmt.Sprint(i / len(people))
		}
		email := p.email + suffix + "@example.com"
		local := bump(p.phoneLocal, i/len(people))
		at := base.Add(time.Duration(rng.IntN(30*24)) * time.Hour)
		shopID := fmt.Sprint(7039114952811000000 + uint64(i)*7919) // beyond 2^53, as Shopify's are

		add(SourceShop, crmhub.EntityCustomer, shopID, at.Format(time.RFC3339), map[string]any{
			"id": json.Number(shopID), "email": email, "first_name": p.first, "last_name": p.last + suffix,
			"phone": "+" + p.region + local, "created_at": at.Format(time.RFC3339),
			"updated_at": at.Format(time.RFC3339), "tags": "", "currency": "USD",
			"addresses": []map[string]any{{"address1": fmt.Sprintf("%d Main Street", 1+rng.IntN(200)),
				"city": p.city, "country_code": p.country, "zip": fmt.Sprintf("%05d", rng.IntN(99999))}},
			"email_marketing_consent": map[string]any{"state": "subscribed", "opt_in_level": "single_opt_in",
				"consent_updated_at": at.Format(time.RFC3339)},
			"admin_graphql_api_id": "gid://shopify/Customer/" + shopID,
		})
		if withOrders && i%3 == 1 {
			// An order a few days after the customer signed up.
			placed := at.Add(time.Duration(24+orderRNG.IntN(10*24)) * time.Hour)
			add(SourceShop, crmhub.EntityOrder, fmt.Sprint(orderID(i)), placed.Format(time.RFC3339),
				order(orderRNG, i, placed, shopID, email))
		}
		if i%2 == 0 {
			// The ERP keeps the native-script name and a locally written
			// phone number, in the digits of the locale.
			phone := "0" + local
			switch p.region {
			case "98":
				phone = persianDigits(phone)
			case "971", "962", "20":
				phone = arabicDigits(phone)
			}
			erpID := fmt.Sprintf("C-%04d", 1000+i)
			add(SourceERP, crmhub.EntityCustomer, erpID, at.Add(time.Hour).Format(time.RFC3339), map[string]any{
				"customer_no": erpID, "name": p.firstAlt + " " + p.lastAlt + suffix, "mobile": phone,
				"email": strings.ToUpper(email), "city": p.city, "country": p.country,
				"updated": at.Add(time.Hour).Format(time.RFC3339),
			})
		}
		if i%3 == 0 {
			first := p.first
			if t, ok := transliterations[first]; ok {
				first = t
			}
			leadID := fmt.Sprint(1296000000000000 + uint64(i))
			add(SourceLeads, crmhub.EntityLead, leadID, "", map[string]any{
				"id": leadID, "created_time": at.Add(-48 * time.Hour).Format("2006-01-02T15:04:05-0700"),
				"form_id": LeadFormID,
				"field_data": []map[string]any{
					{"name": "full_name", "values": []string{first + " " + strings.ReplaceAll(p.last, " ", "") + suffix}},
					{"name": "email", "values": []string{email}},
					{"name": "phone_number", "values": []string{"00" + p.region + local}},
				},
			})
		}
		if i%4 != 3 {
			day := at.Add(-24 * time.Hour).Format("20060102")
			add(SourceGA4, crmhub.EntityEvent, day+"/"+shopID, "", map[string]any{
				"dimensionValues": []map[string]string{{"value": day}, {"value": shopID}, {"value": "google / cpc"}},
				"metricValues":    []map[string]string{{"value": fmt.Sprint(1 + rng.IntN(9))}, {"value": "0"}},
			})
		}
	}
	// Malformed on purpose: an ERP customer whose email and phone are not
	// ones and who has no name, and a lead with no way to reach the
	// person.
	add(SourceERP, crmhub.EntityCustomer, "C-BROKEN", "2026-10-02T10:00:00Z", map[string]any{
		"customer_no": "C-BROKEN", "name": "", "email": "n/a", "mobile": "0", "updated": "2026-10-02T10:00:00Z"})
	add(SourceLeads, crmhub.EntityLead, "1296999999999999", "", map[string]any{
		"id": "1296999999999999", "created_time": "2026-10-02T10:00:00+0000", "field_data": []any{}})
	return out
}

// products are what the sample shop sells, prices in cents.
var products = []struct {
	title, sku string
	cents      int
}{
	{"Oud perfume 50 ml", "OUD-050", 8900},
	{"Saffron, 10 g", "SAF-010", 2450},
	{"Silk scarf", "SCF-SLK", 4500},
	{"Dates gift box", "DTS-GFT", 3200},
	{"Leather notebook", "NTB-LTH", 1875},
}

// orderID is the Shopify order id of the i-th person's order.
func orderID(i int) uint64 { return 5849132068011000000 + uint64(i)*104729 }

// order is the orders/create webhook payload of an order the i-th person
// placed, at, in the REST shape: amounts are decimal strings in the
// shop's currency.
func order(rng *rand.Rand, i int, at time.Time, customerID, email string) map[string]any {
	id := orderID(i)
	var items []map[string]any
	subtotal := 0
	for k := range 1 + rng.IntN(3) {
		p := products[rng.IntN(len(products))]
		qty := 1 + rng.IntN(2)
		subtotal += p.cents * qty
		items = append(items, map[string]any{"id": json.Number(fmt.Sprint(id*10 + uint64(k))), "title": p.title,
			"name": p.title, "sku": p.sku, "quantity": qty, "price": money(p.cents)})
	}
	const shipping = 1000
	shippingSet := map[string]string{"amount": money(shipping), "currency_code": "USD"}
	ts := at.Format(time.RFC3339)
	return map[string]any{
		"id": json.Number(fmt.Sprint(id)), "admin_graphql_api_id": fmt.Sprint("gid://shopify/Order/", id),
		"name": fmt.Sprint("#", 1001+i), "order_number": 1001 + i, "email": email, "currency": "USD",
		"created_at": ts, "updated_at": ts, "processed_at": ts, "source_name": "web",
		"financial_status": "paid", "fulfillment_status": nil,
		"subtotal_price": money(subtotal), "total_discounts": "0.00", "total_tax": "0.00",
		"total_price":              money(subtotal + shipping),
		"total_shipping_price_set": map[string]any{"shop_money": shippingSet, "presentment_money": shippingSet},
		"customer":                 map[string]any{"id": json.Number(customerID), "email": email},
		"line_items":               items, "refunds": []any{},
	}
}

// money writes cents as Shopify writes amounts: "89.00".
func money(cents int) string { return fmt.Sprintf("%d.%02d", cents/100, cents%100) }

func envelope(source string, entity crmhub.Entity, id, version string, payload []byte) crmhub.Envelope {
	e := crmhub.Envelope{Source: source, SourceType: SourceTypes[source], Entity: entity, ExternalID: id,
		Version: version, Payload: payload}
	e.IdempotencyKey = e.DefaultIdempotencyKey()
	return e
}

// bump makes the k-th copy of a template's phone number distinct.
func bump(local string, k int) string {
	if k == 0 {
		return local
	}
	tail := fmt.Sprintf("%03d", k%1000)
	return local[:len(local)-3] + tail
}

func arabicDigits(s string) string  { return mapDigits(s, '٠') }
func persianDigits(s string) string { return mapDigits(s, '۰') }

func mapDigits(s string, zero rune) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return zero + (r - '0')
		}
		return r
	}, s)
}

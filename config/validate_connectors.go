package config

import (
	"fmt"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"
)

var (
	shopRE            = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*\.myshopify\.com$`)
	shopifyVersionRE  = regexp.MustCompile(`^\d{4}-\d{2}$`)
	metaVersionRE     = regexp.MustCompile(`^v\d+\.\d+$`)
	digitsRE          = regexp.MustCompile(`^\d+$`)
	adAccountRE       = regexp.MustCompile(`^(act_)?\d+$`)
	headerNameRE      = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
	minVendorSchedule = Duration(time.Minute)
)

func (v *checker) source(i int) {
	s := &v.c.Sources[i]
	path := indexPath("sources", i)
	at := func(key string) string { return joinPath(path, key) }
	owner := s.Name
	if owner == "" {
		owner = s.Type
	}

	known := v.oneOf(at("type"), "source type", s.Type, sourceKeys.types())
	if known {
		v.typeKeys(path, reflect.ValueOf(*s), sourceKeys, s.Type)
	}
	v.baseURL(at("base_url"), s.BaseURL)
	v.fileExists(at("mapping"), s.Mapping, "mapping file")
	if r := s.DefaultRegion; r != "" && !knownRegion(r) {
		hint := "write an ISO 3166 alpha-2 country code, e.g. AE"
		switch up := strings.ToUpper(r); {
		case up == "UK":
			hint = "the United Kingdom is GB in ISO 3166"
		case knownRegion(up):
			hint = "write it in capitals: " + up
		}
		v.add(at("default_region"), fmt.Sprintf("%q is not a country code", abbreviate(r)), hint)
	}
	if t := s.Tenant; t != "" && !nameRE.MatchString(t) {
		v.add(at("tenant"), fmt.Sprintf("%q is not a valid tenant", abbreviate(t)),
			"use lower-case letters, digits, - and _, e.g. "+slug(t))
	}
	if !known {
		return
	}

	switch s.Type {
	case "shopify":
		v.shopify(s, at, owner)
	case "ga4":
		if !digitsRE.MatchString(s.PropertyID) {
			msg := "property_id is required"
			if s.PropertyID != "" {
				msg = fmt.Sprintf("property_id %q is not a GA4 property number", abbreviate(s.PropertyID))
			}
			v.add(at("property_id"), msg, "copy the numeric property ID from GA4 Admin > Property details, e.g. property_id: 123456789")
		}
		v.fileExists(at("credentials_file"), s.CredentialsFile, "credentials file")
		v.nonEmptyDistinct(at("dimensions"), s.Dimensions)
		v.nonEmptyDistinct(at("metrics"), s.Metrics)
		v.vendorSchedule(at("schedule"), s.Schedule)
	case "meta":
		v.requireSecret(at("app_secret"), s.AppSecret, owner)
		v.requireSecret(at("verify_token"), s.VerifyToken, owner)
		v.requireSecret(at("access_token"), s.AccessToken, owner)
		if s.APIVersion != "" && !metaVersionRE.MatchString(s.APIVersion) {
			v.add(at("api_version"), fmt.Sprintf("%q is not a Graph API version", abbreviate(s.APIVersion)), "write it like v21.0, or remove it to use "+DefaultMetaAPIVersion)
		}
		if s.PageID != "" && !digitsRE.MatchString(s.PageID) {
			v.add(at("page_id"), fmt.Sprintf("%q is not a page ID", abbreviate(s.PageID)), "copy the numeric page ID from the page's About section")
		}
	case "webhook":
		v.requireSecret(at("secret"), s.Secret, owner)
		if s.Mapping == "" {
			v.add(at("mapping"), "a webhook source needs a mapping", "add mapping: mappings/"+slug(owner)+".yaml describing its payload")
		}
		if s.SignatureHeader != "" && !headerNameRE.MatchString(s.SignatureHeader) {
			v.add(at("signature_header"), fmt.Sprintf("%q is not an HTTP header name", abbreviate(s.SignatureHeader)), "write a header name such as X-Signature-256")
		}
	case "file":
		if s.Mapping == "" {
			v.add(at("mapping"), "a file source needs a mapping", "add mapping: mappings/"+slug(owner)+".yaml naming the file's columns")
		}
		if s.Format != "" {
			v.oneOf(at("format"), "file format", s.Format, []string{"csv", "ndjson"})
		}
	case "sample":
		if s.Count < 0 {
			v.add(at("count"), "must not be negative", "remove it for the default, or set how many customers to invent")
		}
	}
}

func (v *checker) shopify(s *SourceConfig, at func(string) string, owner string) {
	switch {
	case s.Shop == "":
		v.add(at("shop"), "shop is required", "add shop: your-store.myshopify.com")
	case !shopRE.MatchString(s.Shop):
		hint := "write the shop's permanent domain, your-store.myshopify.com (Shopify admin > Settings > Domains)"
		if u, err := url.Parse(s.Shop); err == nil && u.Host != "" && shopRE.MatchString(u.Host) {
			hint = "write the domain only: shop: " + u.Host
		}
		v.add(at("shop"), fmt.Sprintf("%q is not a *.myshopify.com domain", abbreviate(s.Shop)), hint)
	}

	if s.Auth != "" {
		v.oneOf(at("auth"), "auth", s.Auth, shopifyAuths)
	}
	if s.Auth == ShopifyAuthInstall {
		v.shopifyInstall(s, at, owner)
	} else {
		v.shopifyCredentials(s, at, owner)
	}

	if len(s.WebhookSecretsPrevious) > 0 && s.WebhookSecret == "" {
		v.add(at("webhook_secrets_previous"), "previous webhook secrets without a current webhook_secret",
			"set webhook_secret to the new secret; the previous ones are only accepted during rotation")
	}
	for i, p := range s.WebhookSecretsPrevious {
		if p == "" {
			v.add(indexPath(at("webhook_secrets_previous"), i), "empty secret", "delete the entry, or export the variable it names")
		}
	}

	if av := s.APIVersion; av != "" {
		quarter := shopifyVersionRE.MatchString(av) && slices.Contains([]string{"01", "04", "07", "10"}, av[5:])
		if !quarter {
			v.add(at("api_version"), fmt.Sprintf("%q is not a Shopify API version", abbreviate(av)),
				"Shopify releases versions quarterly as YYYY-MM with MM 01, 04, 07 or 10, e.g. "+DefaultShopifyAPIVersion)
		}
	}
	if len(s.Streams) == 0 && v.wasSet(at("streams")) {
		v.add(at("streams"), "no streams selected", "list customers, orders or both, or remove the key for both")
	}
	v.subset(at("streams"), s.Streams, []string{"customers", "orders"})
	v.vendorSchedule(at("schedule"), s.Schedule)
	if s.Overlap > Duration(Day) {
		v.add(at("overlap"), fmt.Sprintf("overlap %s is longer than a day", s.Overlap),
			"a few minutes covers Shopify's search lag; remove it for "+DefaultShopifyOverlap.String())
	}
}

// Ways a shopify source authenticates (SourceConfig.Auth).
const (
	ShopifyAuthToken             = "access_token"
	ShopifyAuthClientCredentials = "client_credentials"
	ShopifyAuthInstall           = "install"
)

var shopifyAuths = []string{ShopifyAuthToken, ShopifyAuthClientCredentials, ShopifyAuthInstall}

// shopifyCredentials checks an access token or client credentials: one
// of the two, whole.
func (v *checker) shopifyCredentials(s *SourceConfig, at func(string) string, owner string) {
	token, client := s.AccessToken != "", s.ClientID != "" || s.ClientSecret != ""
	switch {
	case token && client:
		v.add(at("client_id"), "both access_token and client_id/client_secret are set",
			"use exactly one way to authenticate: access_token for a custom app token, or client_id and client_secret for client credentials")
	case !token && !client:
		v.add(at("access_token"), "a shopify source needs credentials",
			fmt.Sprintf("use exactly one way to authenticate: access_token: ${%s}, or client_id and client_secret: ${%s}",
				envVarName(owner, "access_token"), envVarName(owner, "client_secret")))
	case client && s.ClientID == "":
		v.add(at("client_id"), "client_secret is set but client_id is not", "add client_id: the app's client ID (it is not secret)")
	case client && s.ClientSecret == "":
		v.requireSecret(at("client_secret"), s.ClientSecret, owner)
	case s.Auth == ShopifyAuthToken && client, s.Auth == ShopifyAuthClientCredentials && token:
		v.add(at("auth"), fmt.Sprintf("auth is %s but the source has the other credentials", s.Auth),
			"remove auth: crmhub tells access_token from client_id and client_secret")
	}
	if len(s.Scopes) > 0 {
		v.add(at("scopes"), "scopes apply to auth: install only",
			"remove them: a custom app's or Dev Dashboard app's scopes are chosen in Shopify")
	}
}

var scopeRE = regexp.MustCompile(`^[a-z][a-z_]*$`)

// shopifyInstall checks a source whose shop installs a public app: the
// app's credentials, where Shopify sends the browser back, the scopes.
func (v *checker) shopifyInstall(s *SourceConfig, at func(string) string, owner string) {
	if s.AccessToken != "" {
		v.add(at("access_token"), "auth: install gets its token from the install, not from access_token",
			"remove access_token, or remove auth: install to use the token")
	}
	if s.ClientID == "" {
		v.add(at("client_id"), "client_id is required with auth: install", "add client_id: the public app's client ID (it is not secret)")
	}
	v.requireSecret(at("client_secret"), s.ClientSecret, owner)
	if v.c.HTTP.PublicURL == "" {
		v.add(at("auth"), "auth: install needs http.public_url",
			"set http.public_url to the address Shopify sends the browser back to, and allow PUBLIC_URL/shopify/callback as a redirection URL of the app")
	}
	for i, sc := range s.Scopes {
		if !scopeRE.MatchString(sc) {
			v.add(indexPath(at("scopes"), i), fmt.Sprintf("%q is not an access scope", abbreviate(sc)),
				"write one scope an entry, e.g. read_customers")
		}
	}
}

// vendorSchedule keeps pulls from rate-limited vendor APIs to at most one
// a minute.
func (v *checker) vendorSchedule(path string, d Duration) {
	if d != 0 && d < minVendorSchedule {
		v.add(path, fmt.Sprintf("schedule %s is shorter than a minute", d),
			"pull every 15m or so; webhooks deliver changes in between")
	}
}

// nonEmptyDistinct checks a free-form list for empty and repeated entries.
func (v *checker) nonEmptyDistinct(path string, vals []string) {
	seen := map[string]bool{}
	for i, s := range vals {
		switch {
		case strings.TrimSpace(s) == "":
			v.add(indexPath(path, i), "empty entry", "delete it")
		case seen[s]:
			v.add(indexPath(path, i), fmt.Sprintf("%q is listed twice", abbreviate(s)), "delete one of the two")
		}
		seen[s] = true
	}
}

func (v *checker) destination(i int) {
	d := &v.c.Destinations[i]
	path := indexPath("destinations", i)
	at := func(key string) string { return joinPath(path, key) }
	owner := d.Name
	if owner == "" {
		owner = d.Type
	}

	if !v.oneOf(at("type"), "destination type", d.Type, destinationKeys.types()) {
		v.baseURL(at("base_url"), d.BaseURL)
		return
	}
	v.typeKeys(path, reflect.ValueOf(*d), destinationKeys, d.Type)
	v.baseURL(at("base_url"), d.BaseURL)

	switch d.Type {
	case "shopify":
		v.destinationSource(at("source"), d.Source)
		if len(d.Push) == 0 {
			v.add(at("push"), "push is required: say what to write to the shop", "add push: [tags] (any of tags, metafields, discounts)")
		}
		v.subset(at("push"), d.Push, []string{"discounts", "metafields", "tags"})
		if strings.Contains(d.TagPrefix, ",") {
			v.add(at("tag_prefix"), "tag_prefix contains a comma, which Shopify treats as a tag separator", "remove the comma, e.g. crmhub:")
		}
	case "klaviyo":
		v.requireSecret(at("api_key"), d.APIKey, owner)
	case "hubspot":
		v.requireSecret(at("access_token"), d.AccessToken, owner)
	case "meta_audience":
		v.requireSecret(at("access_token"), d.AccessToken, owner)
		switch {
		case d.AdAccountID == "":
			v.add(at("ad_account_id"), "ad_account_id is required", "copy it from Meta Business settings, e.g. ad_account_id: act_1234567890")
		case !adAccountRE.MatchString(d.AdAccountID):
			v.add(at("ad_account_id"), fmt.Sprintf("%q is not an ad account ID", abbreviate(d.AdAccountID)), "write act_ followed by digits, e.g. act_1234567890")
		}
		if d.AudienceID != "" && !digitsRE.MatchString(d.AudienceID) {
			v.add(at("audience_id"), fmt.Sprintf("%q is not an audience ID", abbreviate(d.AudienceID)), "copy the numeric ID from Audiences in Ads Manager, or remove it to create an audience")
		}
	case "webhook":
		v.requireSecret(at("secret"), d.Secret, owner)
		u, err := url.Parse(d.URL)
		switch {
		case d.URL == "":
			v.add(at("url"), "url is required", "add url: https://erp.example.com/crmhub/profiles")
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			v.add(at("url"), fmt.Sprintf("%q is not an absolute http(s) URL", abbreviate(d.URL)), "write the full address, e.g. https://erp.example.com/crmhub/profiles")
		case u.User != nil:
			v.add(at("url"), "url carries credentials", "remove user:password@ from the URL; requests are signed with secret")
		}
	}
}

// destinationSource checks that a shopify destination names a shopify
// source, whose shop and credentials it uses.
func (v *checker) destinationSource(path, name string) {
	var shops []string
	for _, s := range v.c.Sources {
		if s.Type == "shopify" && s.Name != "" {
			shops = append(shops, s.Name)
		}
	}
	hint := "add a shopify source first, then name it here"
	if len(shops) > 0 {
		hint = "shopify sources: " + commaList(shops)
	}
	src := v.c.Source(name)
	switch {
	case name == "":
		v.add(path, "source is required: the shopify source whose shop this writes to", hint)
	case src == nil:
		v.add(path, fmt.Sprintf("no source named %q", abbreviate(name))+didYouMean(name, shops), hint)
	case src.Type != "shopify":
		v.add(path, fmt.Sprintf("source %q is a %s source, not shopify", name, src.Type), hint)
	}
}

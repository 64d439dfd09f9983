package meta

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-resty/resty/v2"
)

// DefaultAPIVersion is the Graph API version a client speaks when its
// config names none.
const DefaultAPIVersion = "v21.0"

// DefaultBaseURL is where the Graph API is.
const DefaultBaseURL = "https://graph.facebook.com"

// leadFields are the fields of a lead a Client asks for.
const leadFields = "id,created_time,ad_id,form_id,field_data"

// ClientConfig configures a Client.
type ClientConfig struct {
	// AccessToken is a page access token with the leads_retrieval
	// permission.
	AccessToken string
	// AppSecret, when set, signs each request with appsecret_proof, which
	// apps that require it (Settings > Advanced) need.
	AppSecret string
	// APIVersion pins the Graph API version; DefaultAPIVersion when empty.
	APIVersion string
	// BaseURL replaces DefaultBaseURL (scheme and host): a proxy or a test
	// server.
	BaseURL string
	// Timeout bounds one request. Default 10 s: a lead is fetched while
	// Meta waits for the answer to its webhook.
	Timeout time.Duration
	// Retries is how many times a request is sent again after a 5xx, a
	// 429 or a network error. Default 2; a negative value, none.
	Retries int
	// MaxWait bounds the wait before a retry; an answer that asks for a
	// longer one (Retry-After) is not retried. Default 2 s.
	MaxWait time.Duration
}

// Client reads leads from the Graph API with resty. It is safe for
// concurrent use.
type Client struct {
	http  *resty.Client
	token string
	proof string
	ver   string
}

// versionRE is what a Graph API version looks like.
var versionRE = regexp.MustCompile(`^v[0-9]+\.[0-9]+$`)

// NewClient returns a client for cfg. It does no I/O.
func NewClient(cfg ClientConfig) (*Client, error) {
	if cfg.AccessToken == "" {
		return nil, errors.New("meta client: no access token")
	}
	if cfg.APIVersion == "" {
		cfg.APIVersion = DefaultAPIVersion
	}
	if !versionRE.MatchString(cfg.APIVersion) {
		return nil, fmt.Errorf("meta client: %q is not a Graph API version such as %s", cfg.APIVersion, DefaultAPIVersion)
	}
	base := DefaultBaseURL
	if cfg.BaseURL != "" {
		u, err := url.Parse(cfg.BaseURL)
		if err != nil || u.Scheme == "" || u.Host == "" {
			return nil, fmt.Errorf("meta client: base_url %q is not a scheme and host", cfg.BaseURL)
		}
		base = u.Scheme + "://" + u.Host
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Retries < 0 {
		cfg.Retries = 0
	} else if cfg.Retries == 0 {
		cfg.Retries = 2
	}
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = 2 * time.Second
	}
	c := &Client{token: cfg.AccessToken, ver: cfg.APIVersion}
	if cfg.AppSecret != "" {
		mac := hmac.New(sha256.New, []byte(cfg.AppSecret))
		mac.Write([]byte(cfg.AccessToken))
		c.proof = hex.EncodeToString(mac.Sum(nil))
	}
	c.http = resty.New().
		SetBaseURL(base).
		SetTimeout(cfg.Timeout).
		// The token goes in a header, not in the URL, where proxies and
		// logs would keep it.
		SetAuthScheme("Bearer").
		SetAuthToken(cfg.AccessToken).
		SetRetryCount(cfg.Retries).
		SetRetryWaitTime(200 * time.Millisecond).
		SetRetryMaxWaitTime(cfg.MaxWait).
		SetRetryAfter(retryAfter(cfg.MaxWait)).
		AddRetryCondition(func(r *resty.Response, err error) bool {
			if err != nil {
				// A network error, not the context's end.
				return r == nil || r.Request == nil || r.Request.Context().Err() == nil
			}
			return r.StatusCode() == http.StatusTooManyRequests || r.StatusCode() >= 500
		})
	c.http.SetLogger(discardLogger{})
	return c, nil
}

// errWaitTooLong stops the retries of a request whose answer asks for a
// longer wait than the client allows.
var errWaitTooLong = errors.New("the Graph API asked for a longer wait than allowed")

// retryAfter waits what a 429's or a 503's Retry-After asks, when it is at
// most max, and resty's backoff otherwise.
func retryAfter(max time.Duration) resty.RetryAfterFunc {
	return func(_ *resty.Client, r *resty.Response) (time.Duration, error) {
		if r == nil {
			return 0, nil
		}
		s := r.Header().Get("Retry-After")
		if s == "" {
			return 0, nil
		}
		secs, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || secs < 0 {
			return 0, nil
		}
		if d := time.Duration(secs) * time.Second; d > max {
			return 0, errWaitTooLong
		} else if d > 0 {
			return d, nil
		}
		return 0, nil
	}
}

// Lead returns the lead with id as the Graph API writes it: id,
// created_time, ad_id, form_id and field_data, the answers to the form's
// questions. An error is a *GraphError when the API answered one.
func (c *Client) Lead(ctx context.Context, id string) (json.RawMessage, error) {
	if !digitsRE.MatchString(id) {
		return nil, &GraphError{Status: http.StatusBadRequest, Code: codeInvalidParameter, Message: "a lead id is digits"}
	}
	req := c.http.R().SetContext(ctx).SetQueryParam("fields", leadFields)
	if c.proof != "" {
		req.SetQueryParam("appsecret_proof", c.proof)
	}
	resp, err := req.Get("/" + c.ver + "/" + id)
	if err != nil {
		if errors.Is(err, errWaitTooLong) && resp != nil {
			return nil, graphError(resp.StatusCode(), resp.Body())
		}
		return nil, fmt.Errorf("fetch lead %s: %w", id, err)
	}
	if resp.StatusCode() != http.StatusOK {
		return nil, graphError(resp.StatusCode(), resp.Body())
	}
	body := resp.Body()
	if !json.Valid(body) || len(body) == 0 || body[0] != '{' {
		return nil, fmt.Errorf("fetch lead %s: the Graph API answered 200 with no JSON object", id)
	}
	return body, nil
}

var digitsRE = regexp.MustCompile(`^[0-9]{1,30}$`)

// Graph API error codes (developers.facebook.com/docs/graph-api/guides/error-handling).
const (
	codeInvalidParameter = 100 // also: the object does not exist, or cannot be read
	codeTokenExpired     = 190
)

// transientCodes are the Graph API's codes for trouble that goes away by
// waiting: downtime (1, 2) and the rate limits of an app, a user, a page
// or a business (4, 17, 32, 341, 613, 80000-80014).
func transientCode(code int) bool {
	switch code {
	case 1, 2, 4, 17, 32, 341, 613:
		return true
	}
	return code >= 80000 && code <= 80014
}

// GraphError is an error answer of the Graph API.
type GraphError struct {
	// Status is the HTTP status.
	Status int
	// Code, Subcode, Type and Message are the error object's.
	Code, Subcode int
	Type, Message string
	// TraceID is fbtrace_id, which Meta's support asks for.
	TraceID string
}

func (e *GraphError) Error() string {
	msg := fmt.Sprintf("graph api answered %d: code %d", e.Status, e.Code)
	if e.Subcode != 0 {
		msg += fmt.Sprintf(" (subcode %d)", e.Subcode)
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if e.TraceID != "" {
		msg += " [fbtrace_id " + e.TraceID + "]"
	}
	switch {
	case e.Code == codeTokenExpired || e.Status == http.StatusUnauthorized:
		msg += "; the access token was refused: give the source a valid page access token"
	case e.Code == 10 || (e.Code >= 200 && e.Code <= 299):
		msg += "; the token lacks a permission: grant leads_retrieval and pages_manage_metadata"
	}
	return msg
}

// Gone reports whether the lead can never be read: it does not exist (any
// more), or the token may not see it. Any other error may go away.
func (e *GraphError) Gone() bool {
	return e.Code == codeInvalidParameter && e.Status >= 400 && e.Status < 500
}

// Transient reports whether waiting cures the error: a rate limit, a 5xx.
func (e *GraphError) Transient() bool {
	return transientCode(e.Code) || e.Status == http.StatusTooManyRequests || e.Status >= 500
}

// graphError reads the error object of an answer with status.
func graphError(status int, body []byte) *GraphError {
	var env struct {
		Error struct {
			Message   string `json:"message"`
			Type      string `json:"type"`
			Code      int    `json:"code"`
			Subcode   int    `json:"error_subcode"`
			FBTraceID string `json:"fbtrace_id"`
		} `json:"error"`
	}
	e := &GraphError{Status: status}
	if json.Unmarshal(body, &env) == nil {
		e.Code, e.Subcode, e.Type, e.TraceID = env.Error.Code, env.Error.Subcode, env.Error.Type, env.Error.FBTraceID
		e.Message = abbreviate(env.Error.Message, 300)
	}
	return e
}

func abbreviate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut on a rune's start, so that the text stays UTF-8.
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// discardLogger keeps resty quiet: its log lines carry URLs, and crmhub
// logs what matters itself.
type discardLogger struct{}

func (discardLogger) Errorf(string, ...any) {}
func (discardLogger) Warnf(string, ...any)  {}
func (discardLogger) Debugf(string, ...any) {}

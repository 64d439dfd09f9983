package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub/internal/syncbuf"
	"github.com/crmhub/crmhub/store"
)

var (
	demoAPIRE      = regexp.MustCompile(`(?m)^API +(http://127\.0\.0\.1:\d+/api/v1)$`)
	demoTokenRE    = regexp.MustCompile(`(?m)^read token +(crmhub_\S+)$`)
	demoResolvedRE = regexp.MustCompile(`resolved into (\d+) profiles \((\d+) merges\); (\d+) records in dead letters`)
	demoFedRE      = regexp.MustCompile(`fed (\d+) records, (\d+) of them new`)
)

// demoGet calls the demo's API with a token and decodes the data of the
// answer into out; it returns the status.
func demoGet(t *testing.T, url, token string, out any) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK && out != nil {
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&struct {
			Data any `json:"data"`
		}{out}))
	}
	return resp.StatusCode
}

func demoCount(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	require.NoError(t, err)
	return n
}

func TestDemoServesTheAPIUntilStopped(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdout, stderr := &syncbuf.Buffer{}, &syncbuf.Buffer{}
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, []string{"demo", "--dir", dir, "--people", "20", "--listen", "127.0.0.1:0"}, stdout, stderr)
	}()
	require.Eventually(t, func() bool {
		return strings.Contains(stdout.String(), "crmhub is running; press Ctrl-C to stop")
	}, 2*time.Minute, 20*time.Millisecond, "the demo printed no summary: %s\n%s", stdout, stderr)
	out := stdout.String()
	api, token := demoAPIRE.FindStringSubmatch(out), demoTokenRE.FindStringSubmatch(out)
	resolved := demoResolvedRE.FindStringSubmatch(out)
	require.NotNil(t, api, out)
	require.NotNil(t, token, out)
	require.NotNil(t, resolved, out)
	require.Contains(t, out, "curl -H 'Authorization: Bearer "+token[1]+"' '"+api[1]+"/customers")
	require.Regexp(t, `demo-shop +shopify +customer +20 +signed customers/create webhooks to POST /webhooks/shopify/demo-shop`, out)
	require.Regexp(t, `demo-erp +webhook +customer +\d+ +signed webhooks to POST /webhooks/in/demo-erp`, out)

	// The printed token reads the API of the running demo.
	var customers []struct {
		ID         string `json:"id"`
		Identities []struct {
			Source string `json:"source"`
		} `json:"identities"`
	}
	require.Equal(t, http.StatusOK, demoGet(t, api[1]+"/customers?limit=100", token[1], &customers))
	require.Len(t, customers, demoCount(t, resolved[1]), "the API lists the profiles the summary counts")
	sources := map[string]bool{}
	for _, c := range customers {
		for _, id := range c.Identities {
			sources[id.Source] = true
		}
	}
	require.Equal(t, map[string]bool{"demo-shop": true, "demo-erp": true, "demo-leads": true}, sources)

	var orders []struct {
		CustomerID string `json:"customer_id"`
	}
	require.Equal(t, http.StatusOK, demoGet(t, api[1]+"/orders?limit=100", token[1], &orders))
	require.NotEmpty(t, orders, "the orders/create webhooks became orders")

	var dead []struct {
		ID         int64  `json:"id"`
		Source     string `json:"source"`
		ExternalID string `json:"external_id"`
	}
	require.Equal(t, http.StatusOK, demoGet(t, api[1]+"/dead-letters", token[1], &dead))
	require.Len(t, dead, demoCount(t, resolved[3]), "the API lists the dead letters the summary counts")
	var broken []string
	for _, d := range dead {
		broken = append(broken, d.Source+" "+d.ExternalID)
	}
	require.ElementsMatch(t, []string{"demo-erp C-BROKEN", "demo-leads 1296999999999999"}, broken,
		"the malformed records are the dead letters")

	// The token reads and does nothing else.
	req, err := http.NewRequest(http.MethodPost, fmt.Sprintf("%s/dead-letters/%d/replay", api[1], dead[0].ID), nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token[1])
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	require.Equal(t, http.StatusUnauthorized, demoGet(t, api[1]+"/customers", "", nil))

	cancel() // as Ctrl-C does through main's context
	select {
	case c := <-code:
		require.Equal(t, exitOK, c, stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("the demo did not stop within 30s: %s", stderr)
	}
	require.Contains(t, stdout.String(), "crmhub stopped cleanly")
	require.Contains(t, stderr.String(), `msg="crmhub stopped"`)
	for _, leak := range []string{token[1], "sara.amiri", "Al Amiri"} {
		require.NotContains(t, stderr.String(), leak, "the log carries no token and no customer data")
	}
}

// runDemoOnce runs `crmhub demo --once` and returns its standard output.
func runDemoOnce(t *testing.T, dir string, args ...string) string {
	t.Helper()
	r := runCLI(t, append([]string{"demo", "--once", "--dir", dir, "--people", "20", "--listen", "127.0.0.1:0"}, args...)...)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "crmhub stopped cleanly")
	return r.stdout
}

var (
	demoIDRE   = regexp.MustCompile(`cus_[0-9A-Z]+`)
	demoTimeRE = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ`)
)

// demoSummary is what a demo printed about the data, without what differs
// from run to run: the directory, the profile ids, the times, the
// address and the token.
func demoSummary(out, dir string) string {
	out, _, _ = strings.Cut(out, "\nAPI ")
	out = strings.ReplaceAll(out, dir, "DIR")
	out = demoFedRE.ReplaceAllString(out, "fed $1 records, N of them new")
	return demoTimeRE.ReplaceAllString(demoIDRE.ReplaceAllString(out, "cus_ID"), "TIME")
}

// demoProfiles lists the demo's profiles by what they hold, sorted: two
// stores with the same people give the same list, whatever the ids.
func demoProfiles(t *testing.T, dir string) (byContent, ids []string) {
	t.Helper()
	ctx := context.Background()
	s, err := store.Open(ctx, store.Options{Driver: store.DriverSQLite, DSN: filepath.Join(dir, "crmhub.db")})
	require.NoError(t, err)
	defer s.Close()
	rows, err := s.ReadDB().QueryContext(ctx, `SELECT id FROM customers WHERE merged_into IS NULL`)
	require.NoError(t, err)
	for rows.Next() {
		var id string
		require.NoError(t, rows.Scan(&id))
		ids = append(ids, id)
	}
	require.NoError(t, rows.Err())
	require.NoError(t, rows.Close())
	for _, id := range ids {
		c, err := s.Customer(ctx, id)
		require.NoError(t, err)
		byContent = append(byContent, fmt.Sprintf("%s %s %v %v %+v", c.FirstName, c.LastName, c.Emails, c.Phones,
			c.Addresses))
	}
	slices.Sort(byContent)
	slices.Sort(ids)
	return byContent, ids
}

func TestDemoOnceIsReproducible(t *testing.T) {
	tmp := t.TempDir()
	a, b, c := filepath.Join(tmp, "a"), filepath.Join(tmp, "b"), filepath.Join(tmp, "c")

	first := runDemoOnce(t, a)
	fed := demoFedRE.FindStringSubmatch(first)
	require.NotNil(t, fed, first)
	require.Equal(t, fed[1], fed[2], "a fresh demo lands everything")
	profiles, ids := demoProfiles(t, a)
	require.Len(t, profiles, 20)

	// Again on the same directory: the webhooks are redeliveries, the
	// ingested records are there already, and nothing changes.
	again := runDemoOnce(t, a)
	require.Contains(t, again, "fed "+fed[1]+" records, 0 of them new")
	require.Equal(t, demoSummary(first, a), demoSummary(again, a))
	profiles2, ids2 := demoProfiles(t, a)
	require.Equal(t, ids, ids2, "the same profiles")
	require.Equal(t, profiles, profiles2)

	// The same seed elsewhere gives the same data.
	other := runDemoOnce(t, b)
	require.Equal(t, demoSummary(first, a), demoSummary(other, b))
	profilesB, _ := demoProfiles(t, b)
	require.Equal(t, profiles, profilesB)

	// Another seed gives other data.
	runDemoOnce(t, c, "--seed", "2")
	profilesC, _ := demoProfiles(t, c)
	require.NotEqual(t, profiles, profilesC)
}

func TestDemoListensElsewhereWhenThePortIsTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	taken := ln.Addr().String()

	out := runDemoOnce(t, filepath.Join(t.TempDir(), "demo"), "--listen", taken)
	require.Contains(t, out, taken+" is in use; listening on 127.0.0.1:")
	api := demoAPIRE.FindStringSubmatch(out)
	require.NotNil(t, api, out)
	require.NotContains(t, api[1], taken)
}

func TestWaitSettledGivesUpWhenThePipelineStalls(t *testing.T) {
	ctx := context.Background()
	s, err := store.Open(ctx, store.Options{Driver: store.DriverSQLite, DSN: filepath.Join(t.TempDir(), "crmhub.db")})
	require.NoError(t, err)
	defer s.Close()
	_, err = s.Migrate(ctx)
	require.NoError(t, err)
	base, err := settledNow(ctx, s)
	require.NoError(t, err)

	require.NoError(t, waitSettled(ctx, base, 0, time.Second), "nothing landed, nothing to wait for")
	start := time.Now()
	err = waitSettled(ctx, base, 1, 200*time.Millisecond)
	require.ErrorContains(t, err, "the pipeline processed nothing for 200ms, with 0 of 1 records done")
	require.Less(t, time.Since(start), 10*time.Second)
}

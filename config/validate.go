package config

import (
	"fmt"
	"math"
	"net"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Validate checks the meaning of the configuration: required keys, allowed
// values, references between sections, files that must exist. It returns
// Problems, or nil when the configuration is usable.
//
// Validate does not change c and does not apply defaults: call
// ApplyDefaults first on a Config built in Go code. For a Config from Load
// or Parse, problems carry the file and line of the key concerned.
func (c *Config) Validate() error {
	v := &checker{c: c, o: c.src}
	v.store()
	v.bus()
	v.http()
	v.log()
	v.names()
	for i := range c.Sources {
		v.source(i)
	}
	for i := range c.Destinations {
		v.destination(i)
	}
	v.identity()
	return v.ps.Err()
}

// checker collects the problems Validate finds.
type checker struct {
	c  *Config
	o  *origin // nil for a Config built in Go code
	ps Problems
}

// add records a problem at path unless an earlier stage already reported
// one there: the first report of a mistake is the useful one.
func (v *checker) add(path, msg, hint string) {
	p := Problem{Path: path, Message: msg, Hint: hint}
	if v.o != nil {
		if v.o.isFlagged(path) {
			return
		}
		p.File, p.Line = v.o.file, v.o.line(path)
	}
	v.ps = append(v.ps, p)
}

// wasSet reports whether path was written in the file.
func (v *checker) wasSet(path string) bool {
	if v.o == nil {
		return false
	}
	_, ok := v.o.lines[path]
	return ok
}

// literal reports whether the value at path was written into the file
// rather than taken from the environment.
func (v *checker) literal(path string) bool {
	return v.o != nil && !v.o.fromEnv[path]
}

// oneOf checks that val is one of known.
func (v *checker) oneOf(path, what, val string, known []string) bool {
	if slices.Contains(known, val) {
		return true
	}
	if val == "" {
		v.add(path, what+" is required", "known: "+commaList(known))
		return false
	}
	v.add(path, fmt.Sprintf("unknown %s %q", what, abbreviate(val))+didYouMean(val, known), "known: "+commaList(known))
	return false
}

// subset checks that vals are distinct members of known.
func (v *checker) subset(path string, vals, known []string) {
	seen := map[string]bool{}
	for i, s := range vals {
		p := indexPath(path, i)
		switch {
		case !slices.Contains(known, s):
			v.add(p, fmt.Sprintf("unknown value %q", abbreviate(s))+didYouMean(s, known), "known: "+commaList(known))
		case seen[s]:
			v.add(p, fmt.Sprintf("%q is listed twice", abbreviate(s)), "delete one of the two")
		}
		seen[s] = true
	}
}

// requireSecret checks that a required credential is present.
func (v *checker) requireSecret(path string, s Secret, owner string) {
	if s == "" {
		key := path[strings.LastIndexByte(path, '.')+1:]
		v.add(path, key+" is required", fmt.Sprintf("add %s: ${%s} and export %s", key, envVarName(owner, key), envVarName(owner, key)))
	}
}

func (v *checker) store() {
	s := v.c.Store
	if !v.oneOf("store.driver", "store driver", s.Driver, []string{"postgres", "sqlite"}) {
		return
	}
	if s.MaxOpenConns < 0 {
		v.add("store.max_open_conns", "must not be negative", "remove it to use the driver's default, or set a positive number")
	}
	switch s.Driver {
	case "sqlite":
		if s.DSN == "" {
			v.add("store.dsn", "dsn is required", "set dsn: ./crmhub.db (a file path, relative to the config file)")
		}
		if s.Synchronous != "" {
			v.oneOf("store.synchronous", "synchronous mode", s.Synchronous, []string{"full", "normal"})
		}
	case "postgres":
		v.postgresDSN("store.dsn", s.DSN, "DATABASE_URL")
		if s.Synchronous != "" {
			v.add("store.synchronous", "synchronous applies to the sqlite driver only", "remove it")
		}
	}
}

func (v *checker) bus() {
	b := v.c.Bus
	if !v.oneOf("bus.driver", "bus driver", b.Driver, []string{"gochannel", "nats", "postgres", "sqlite"}) {
		return
	}
	if b.NATS != nil && b.Driver != "nats" {
		v.add("bus.nats", "nats applies to the nats driver only", "remove it, or set driver: nats")
	}
	switch b.Driver {
	case "gochannel":
		if !v.c.AllowEphemeralBus {
			v.add("bus.driver", "the gochannel bus keeps messages in memory and loses them on a crash or restart",
				"use sqlite (the default), postgres or nats; gochannel is for tests")
		}
	case "sqlite":
		if b.DSN == "" {
			v.add("bus.dsn", "dsn is required: the store is not sqlite, so there is no database to share",
				"set dsn: ./crmhub-bus.db, or use driver: postgres to share the store's database")
		}
	case "postgres":
		if b.DSN == "" {
			v.add("bus.dsn", "dsn is required: the store is not postgres, so there is no database to share",
				"set dsn: ${BUS_DATABASE_URL}, or use driver: sqlite to share the store's database")
			return
		}
		// A DSN the bus took over from the store was checked there.
		if v.c.Store.Driver != "postgres" || v.wasSet("bus.dsn") {
			v.postgresDSN("bus.dsn", b.DSN, "BUS_DATABASE_URL")
		}
	case "nats":
		if b.DSN != "" && v.wasSet("bus.dsn") {
			v.add("bus.dsn", "dsn applies to the sqlite and postgres drivers only", "remove it; set nats: {url: ...} instead")
		}
		if b.NATS == nil || b.NATS.URL == "" {
			v.add("bus.nats.url", "the nats driver needs a server URL", "add nats: {url: nats://127.0.0.1:4222}")
			return
		}
		v.natsURL("bus.nats.url", b.NATS.URL)
		if p := b.NATS.StreamPrefix; p != "" && !streamPrefixRE.MatchString(p) {
			v.add("bus.nats.stream_prefix", fmt.Sprintf("%q cannot start a JetStream stream name", abbreviate(p)),
				"use letters, digits, - and _ only, e.g. crmhub")
		}
	}
}

var streamPrefixRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// postgresDSN checks a PostgreSQL DSN without ever echoing it: it may hold
// a password.
func (v *checker) postgresDSN(path string, dsn Secret, envName string) {
	s := strings.TrimSpace(dsn.Reveal())
	if s == "" {
		v.add(path, "dsn is required for postgres",
			fmt.Sprintf("set dsn: ${%s} and export %s=postgres://user@host:5432/crmhub", envName, envName))
		return
	}
	var password bool
	switch {
	case strings.HasPrefix(s, "postgres://"), strings.HasPrefix(s, "postgresql://"):
		u, err := url.Parse(s)
		if err != nil || u.Host == "" && u.Query().Get("host") == "" {
			v.add(path, "dsn is not a valid postgres:// URL",
				"write postgres://user@host:5432/dbname?sslmode=require")
			return
		}
		_, password = u.User.Password()
	case strings.Contains(s, "="):
		password = strings.Contains(" "+s, " password=")
	default:
		v.add(path, "dsn is not a PostgreSQL connection string",
			"write postgres://user@host:5432/dbname or host=... user=... dbname=...")
		return
	}
	if password && v.literal(path) {
		v.add(path, "dsn holds a password written into the file",
			fmt.Sprintf("take it from the environment: dsn: ${%s}, or leave the password out and export PGPASSWORD", envName))
	}
}

// natsURL checks a comma-separated list of NATS server URLs.
func (v *checker) natsURL(path string, urls Secret) {
	for s := range strings.SplitSeq(urls.Reveal(), ",") {
		u, err := url.Parse(strings.TrimSpace(s))
		if err != nil || u.Host == "" || !slices.Contains([]string{"nats", "tls", "ws", "wss"}, u.Scheme) {
			v.add(path, "not a NATS server URL", "write nats://host:4222, several separated by commas")
			return
		}
		if _, pw := u.User.Password(); pw && v.literal(path) {
			v.add(path, "url holds a password written into the file",
				"take it from the environment: url: nats://crmhub:${NATS_PASSWORD}@host:4222")
			return
		}
	}
}

func (v *checker) http() {
	h := v.c.HTTP
	if host, port, err := net.SplitHostPort(h.Listen); err != nil || !validPort(port) || strings.ContainsAny(host, " /") {
		v.add("http.listen", fmt.Sprintf("%q is not a host:port address", abbreviate(h.Listen)), "write :8080 for every interface, or 127.0.0.1:8080 for this machine only")
	}
	if h.PublicURL != "" {
		u, err := url.Parse(h.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			v.add("http.public_url", fmt.Sprintf("%q is not an absolute http(s) URL", abbreviate(h.PublicURL)), "write the address users and vendors reach, e.g. https://crm.example.com")
		}
	}
	if h.ReadTimeout <= 0 {
		v.add("http.read_timeout", "must be positive", "remove it to use 10s, or set e.g. 15s")
	}
	if h.WriteTimeout <= 0 {
		v.add("http.write_timeout", "must be positive", "remove it to use 30s, or set e.g. 60s")
	}
	if h.IdleTimeout <= 0 {
		v.add("http.idle_timeout", "must be positive", "remove it to use 2m, or set e.g. 5m")
	}
	if h.MaxBodyBytes <= 0 {
		v.add("http.max_body_bytes", "must be positive", "remove it to use 1 MiB, or set a size in bytes, e.g. 1048576")
	}
	if h.PageSizeMax <= 0 {
		v.add("http.page_size_max", "must be positive", "remove it to use 1000, or set the most records one page may hold, e.g. 500")
	}
	if h.RateLimit <= 0 || math.IsInf(h.RateLimit, 0) || math.IsNaN(h.RateLimit) {
		v.add("http.rate_limit", "must be a positive number", "remove it to use 20 requests a second per token, or set e.g. 5 or 0.5")
	}
	if h.RateBurst <= 0 {
		v.add("http.rate_burst", "must be positive", "remove it to use 40, or set how many requests one token may make at once, e.g. 10")
	}
}

func validPort(p string) bool {
	n, err := strconv.Atoi(p)
	return err == nil && n >= 0 && n <= 65535
}

func (v *checker) log() {
	if v.c.Log.Level != "" {
		v.oneOf("log.level", "log level", v.c.Log.Level, []string{"debug", "error", "info", "warn"})
	}
	if v.c.Log.Format != "" {
		v.oneOf("log.format", "log format", v.c.Log.Format, []string{"json", "text"})
	}
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// names checks source and destination names. They share one namespace
// because the API and CLI address both as connectors by name.
func (v *checker) names() {
	first := map[string]string{}
	check := func(path, name, kind string) {
		p := path + ".name"
		switch {
		case name == "":
			v.add(p, "name is required", "add name: a short id such as main-store; it appears in URLs and commands")
			return
		case len(name) > 63 || !nameRE.MatchString(name):
			v.add(p, fmt.Sprintf("%q is not a valid %s name", abbreviate(name), kind),
				fmt.Sprintf("use lower-case letters, digits, - and _, starting with a letter or digit, e.g. %s", slug(name)))
		}
		if prev, dup := first[name]; dup {
			v.add(p, fmt.Sprintf("name %q is already used by %s", name, prev), "give every source and destination its own name")
			return
		}
		first[name] = path
	}
	for i, s := range v.c.Sources {
		check(indexPath("sources", i), s.Name, "source")
	}
	for i, d := range v.c.Destinations {
		check(indexPath("destinations", i), d.Name, "destination")
	}
}

// slug turns a rejected name into an acceptable one for the hint.
func slug(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_':
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	s := strings.Trim(b.String(), "-_")
	if len(s) > 63 {
		s = s[:63]
	}
	if s == "" {
		return "main-store"
	}
	return s
}

// typeKeys reports keys written for a source or destination that its type
// does not take. Keys come from the file and, for a Config built in Go,
// from fields that are set.
func (v *checker) typeKeys(path string, val reflect.Value, table typeKeys, typ string) {
	allowed, ok := table.keys(typ)
	if !ok {
		return
	}
	present := map[string]bool{}
	if v.o != nil {
		for p := range v.o.lines {
			if parentPath(p) == path && strings.HasPrefix(p, path+".") {
				present[p[len(path)+1:]] = true
			}
		}
	}
	t := val.Type()
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if t.Field(i).IsExported() && !val.Field(i).IsZero() {
			present[name] = true
		}
	}
	var bad []string
	for k := range present {
		if !slices.Contains(allowed, k) {
			bad = append(bad, k)
		}
	}
	slices.SortFunc(bad, func(a, b string) int {
		if v.o != nil {
			if d := v.o.lines[joinPath(path, a)] - v.o.lines[joinPath(path, b)]; d != 0 {
				return d
			}
		}
		return strings.Compare(a, b)
	})
	for _, k := range bad {
		v.add(joinPath(path, k), fmt.Sprintf("%s does not apply to a %s %s", k, typ, table.what)+didYouMean(k, allowed),
			fmt.Sprintf("remove it; a %s %s takes: %s", typ, table.what, commaList(allowed)))
	}
}

// baseURL checks a base_url: an absolute http(s) URL, scheme and host only,
// because connectors append the vendor's own paths to it.
func (v *checker) baseURL(path, s string) {
	if s == "" {
		return
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		v.add(path, fmt.Sprintf("%q is not a scheme and host", abbreviate(s)),
			"write scheme and host only, e.g. http://127.0.0.1:8081; the connector appends the vendor's paths")
	}
}

// fileExists checks that a path names a readable regular file.
func (v *checker) fileExists(path, file, what string) {
	if file == "" {
		return
	}
	fi, err := os.Stat(file)
	switch {
	case err != nil && os.IsNotExist(err):
		v.add(path, fmt.Sprintf("%s %s does not exist", what, file), "create it or fix the path; relative paths start at the config file's directory")
	case err != nil:
		v.add(path, fmt.Sprintf("cannot read %s %s: %v", what, file, err), "check the file's permissions")
	case !fi.Mode().IsRegular():
		v.add(path, fmt.Sprintf("%s %s is not a regular file", what, file), "point it at a file")
	}
}

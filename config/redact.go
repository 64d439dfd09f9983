package config

import (
	"bytes"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// Redacted returns the effective configuration, defaults included, as
// YAML with every secret shown as [REDACTED]. It is what
// `crmhub validate --print` prints and what may be logged. The output is
// for reading: it does not parse back, since secrets are gone.
func (c *Config) Redacted() ([]byte, error) {
	var doc yaml.Node
	if err := doc.Encode(c); err != nil {
		return nil, fmt.Errorf("encode config: %w", err)
	}
	// A sqlite DSN is a file path, not a credential, and where the data
	// lives is worth seeing. Query parameters are kept hidden: they can
	// carry keys.
	showSQLite(&doc, "store", c.Store.Driver, c.Store.DSN)
	showSQLite(&doc, "bus", c.Bus.Driver, c.Bus.DSN)
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, fmt.Errorf("encode config: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode config: %w", err)
	}
	return buf.Bytes(), nil
}

// showSQLite replaces the redacted dsn of section with the sqlite path.
func showSQLite(doc *yaml.Node, section, driver string, dsn Secret) {
	if driver != "sqlite" || strings.Contains(dsn.Reveal(), "?") {
		return
	}
	if n := mapValue(mapValue(doc, section), "dsn"); n != nil {
		n.SetString(dsn.Reveal())
		n.Style = 0
	}
}

// mapValue returns the value of key in mapping m, or nil.
func mapValue(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

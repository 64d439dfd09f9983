package config

import (
	_ "embed"
	"slices"
)

//go:embed example.yaml
var example []byte

// Example returns a commented example configuration for `crmhub init`. As
// written it parses with an empty environment and runs crmhub on a sample
// source; commented-out blocks show every other source, destination, store
// and bus, ready to switch on.
func Example() []byte { return slices.Clone(example) }

package sample

import (
	"embed"
	"strings"
)

//go:embed mappings/*.yaml
var mappingFiles embed.FS

// Mappings returns the built-in mapping of each sample source, by source
// name, as YAML in the format of mapping files. The leads (SourceLeads)
// have none here: they are Meta's leads, mapped by the meta connector's
// built-in mapping.
func Mappings() map[string][]byte {
	out := map[string][]byte{}
	entries, _ := mappingFiles.ReadDir("mappings")
	for _, e := range entries {
		b, _ := mappingFiles.ReadFile("mappings/" + e.Name())
		out[strings.TrimSuffix(e.Name(), ".yaml")] = b
	}
	return out
}

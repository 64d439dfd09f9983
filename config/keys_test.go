package config

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestKeyTablesMatchStructs keeps the per-type key tables and the structs
// in step: a field nobody's type accepts, or a listed key without a field,
// would be a silent hole in validation.
func TestKeyTablesMatchStructs(t *testing.T) {
	for _, tt := range []struct {
		typ   reflect.Type
		table typeKeys
	}{
		{reflect.TypeFor[SourceConfig](), sourceKeys},
		{reflect.TypeFor[DestinationConfig](), destinationKeys},
	} {
		var fields []string
		for i := range tt.typ.NumField() {
			name, _, _ := strings.Cut(tt.typ.Field(i).Tag.Get("yaml"), ",")
			fields = append(fields, name)
		}
		slices.Sort(fields)
		require.Equal(t, fields, tt.table.all(), tt.typ.Name())
	}
}

func TestTypes(t *testing.T) {
	require.Equal(t, []string{"file", "ga4", "meta", "sample", "shopify", "webhook"}, SourceTypes())
	require.Equal(t, []string{"hubspot", "klaviyo", "meta_audience", "shopify", "webhook"}, DestinationTypes())
}

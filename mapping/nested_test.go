package mapping_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub/mapping"
)

const lineItemsRules = `entity: order
id: id
fields:
  currency: currency
  line_items:
    from: lines
    fields:
      sku: sku
      quantity: qty
      unit_price: {from: price, transform: decimal}
`

func TestNestedTargetsMapEachElement(t *testing.T) {
	rules, err := mapping.Parse("m.yaml", []byte(lineItemsRules))
	require.NoError(t, err)
	for _, tc := range []struct {
		name     string
		payload  string
		want     []map[string]string
		rejected string
	}{
		{"in order, missing fields left out", `{"id":1,"lines":[{"sku":"A","qty":2,"price":"9.50"},{"qty":1,"price":"0"}]}`,
			[]map[string]string{{"sku": "A", "quantity": "2", "unit_price": "9.5"}, {"quantity": "1", "unit_price": "0"}}, ""},
		{"no array", `{"id":1}`, []map[string]string{}, ""},
		{"empty array", `{"id":1,"lines":[]}`, []map[string]string{}, ""},
		{"an element that is not an object", `{"id":1,"lines":[{"sku":"A"},"B"]}`, nil, "element 1 is not an object"},
		{"a price that is not a number fails the whole list", `{"id":1,"lines":[{"sku":"A","price":"9.50"},{"sku":"B","price":"free"}]}`,
			nil, "element 1: unit_price: decimal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, err := mapping.JSONRecord([]byte(tc.payload))
			require.NoError(t, err)
			m, err := rules.Apply(rec, mapping.Options{})
			require.NoError(t, err)
			if tc.rejected != "" {
				require.Contains(t, m.Rejected["line_items"], tc.rejected)
				require.NotContains(t, m.Items, "line_items")
				return
			}
			require.Empty(t, m.Rejected)
			require.Equal(t, tc.want, m.Items["line_items"])
		})
	}

	// A CSV cell is text, never an object.
	m, err := rules.Apply(mapping.CSVRecord{Header: map[string]int{"id": 0, "lines": 1}, Row: []string{"1", "A;B"}}, mapping.Options{})
	require.NoError(t, err)
	require.Contains(t, m.Rejected["line_items"], "not an object")
}

func TestNestedTargetMistakes(t *testing.T) {
	for _, tc := range []struct{ name, fields, want string }{
		{"unknown element field", "  line_items: {from: lines, fields: {colour: c}}\n", `unknown line_items field "colour"`},
		{"element field twice", "  line_items:\n    from: lines\n    fields:\n      sku: a\n      sku: b\n", "sku is mapped twice"},
		{"no from", "  line_items: {fields: {sku: sku}}\n", "no from"},
		{"no fields", "  line_items: {from: lines}\n", "fields is required"},
		{"a bare path", "  line_items: lines\n", "takes the path of an array"},
		{"a transform on the list", "  line_items: {from: lines, transform: trim, fields: {sku: sku}}\n", `unknown key "transform"`},
		{"an element transform that does not exist", "  line_items: {from: lines, fields: {sku: {from: s, transform: shout}}}\n", `unknown transform "shout"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := mapping.Parse("m.yaml", []byte("entity: order\nid: id\nfields:\n"+tc.fields))
			var ps mapping.Problems
			require.True(t, errors.As(err, &ps), "want problems, got %v", err)
			require.Contains(t, err.Error(), tc.want)
			require.Positive(t, ps[0].Line)
		})
	}
	_, err := mapping.Parse("m.yaml", []byte("entity: customer\nid: id\nfields:\n  line_items: {from: l, fields: {sku: s}}\n"))
	require.ErrorContains(t, err, `unknown customer field "line_items"`, "customers have no line items")
}

func TestSumTransform(t *testing.T) {
	rules, err := mapping.Parse("m.yaml", []byte("entity: order\nid: id\nfields:\n  refunded: {from: 'r.#.a', transform: sum}\n"))
	require.NoError(t, err)
	for _, tc := range []struct{ name, payload, want, rejected string }{
		{"several amounts", `{"id":1,"r":[{"a":"41.94"},{"a":5},{"a":"0.06"}]}`, "47", ""},
		{"one amount", `{"id":1,"r":[{"a":"12.30"}]}`, "12.3", ""},
		{"Arabic digits and separators", `{"id":1,"r":[{"a":"١٬٠٠٠٫٥٠"},{"a":"1,000.50"}]}`, "2001", ""},
		{"none is no value", `{"id":1,"r":[]}`, "", ""},
		{"null amounts are skipped", `{"id":1,"r":[{"a":null},{"a":"2"}]}`, "2", ""},
		{"a word is refused", `{"id":1,"r":[{"a":"2"},{"a":"lots"}]}`, "", "not a decimal number"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, err := mapping.JSONRecord([]byte(tc.payload))
			require.NoError(t, err)
			m, err := rules.Apply(rec, mapping.Options{})
			require.NoError(t, err)
			if tc.rejected != "" {
				require.Contains(t, m.Rejected["refunded"], tc.rejected)
				return
			}
			if tc.want == "" {
				require.NotContains(t, m.Fields, "refunded")
				return
			}
			require.Equal(t, []string{tc.want}, m.Fields["refunded"])
		})
	}
}

package export_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/internal/export"
)

func TestSpreadsheetSafe(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"Sara", "Sara"},
		{"=1+1", "'=1+1"},
		{`=HYPERLINK("http://x")`, `'=HYPERLINK("http://x")`},
		{"+SUM(A1:A2)", "'+SUM(A1:A2)"},
		{"-2+3", "'-2+3"},
		{"@SUM(A1)", "'@SUM(A1)"},
		{"\t=1", "'\t=1"},
		{"\r=1", "'\r=1"},
		{"-10.00", "-10.00"},
		{"+971501234567", "+971501234567"},
		{"-0.5", "-0.5"},
		{"10.00", "10.00"},
		{"-", "'-"},
		{"+", "'+"},
		{"-.5", "'-.5"},
		{"-5.", "'-5."},
		{"-1e5", "'-1e5"},
		{"-1.2.3", "'-1.2.3"},
		{"+971501234567|+4915112345678", "'+971501234567|+4915112345678"},
		{"a=1", "a=1"},
		{" =1", " =1"},
	} {
		got := export.SpreadsheetSafe([]string{tc.in})
		require.Equal(t, tc.want, got[0], "%q", tc.in)
	}
}

// TestNDJSONIsJSONMarshal pins the NDJSON writer to json.Marshal,
// HTML escaping included.
func TestNDJSONIsJSONMarshal(t *testing.T) {
	var buf bytes.Buffer
	w := export.Customers(export.FormatNDJSON, &buf)
	c := crmhub.Customer{ID: "cus_1", FirstName: "<Sara & co>"}
	require.NoError(t, w.Write(c))
	require.NoError(t, w.Flush())
	b, _ := json.Marshal(c)
	require.Equal(t, string(b)+"\n", buf.String())

	buf.Reset()
	w = export.Customers(export.FormatCSV, &buf)
	require.NoError(t, w.Flush())
	require.Equal(t, strings.Join(export.CustomerCSVHeader, ",")+"\n", buf.String(), "no records: just the header")
}

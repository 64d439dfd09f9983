package mapping_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/mapping"
)

var update = flag.Bool("update", false, "rewrite the golden *.want.json files")

// TestGolden maps every testdata/<case>/*.input.{json,csv} with the case's
// mapping.yaml and compares with *.want.json.
func TestGolden(t *testing.T) {
	cases, err := filepath.Glob("testdata/*/mapping.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, cases)
	for _, rulesFile := range cases {
		dir := filepath.Dir(rulesFile)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			rules, err := mapping.Load(rulesFile)
			require.NoError(t, err)
			inputs, _ := filepath.Glob(filepath.Join(dir, "*.input.*"))
			require.NotEmpty(t, inputs)
			for _, in := range inputs {
				got := mapFile(t, rules, in)
				b, err := json.MarshalIndent(got, "", "  ")
				require.NoError(t, err)
				want := strings.Split(in, ".input.")[0] + ".want.json"
				if *update {
					require.NoError(t, os.WriteFile(want, append(b, '\n'), 0o644))
				}
				wantBytes, err := os.ReadFile(want)
				require.NoError(t, err, "run go test ./mapping/ -run TestGolden -update to create it")
				require.JSONEq(t, string(wantBytes), string(b), in)
			}
		})
	}
}

func mapFile(t *testing.T, rules *mapping.Rules, path string) []mapping.Mapped {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	opts := mapping.Options{DefaultRegion: "AE"}
	if strings.HasSuffix(path, ".json") {
		rec, err := mapping.JSONRecord(data)
		require.NoError(t, err)
		m, err := rules.Apply(rec, opts)
		require.NoError(t, err)
		return []mapping.Mapped{m}
	}
	rows, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	require.NoError(t, err)
	require.NoError(t, rules.CheckHeader(rows[0]))
	header := map[string]int{}
	for i, h := range rows[0] {
		header[h] = i
	}
	var out []mapping.Mapped
	for _, row := range rows[1:] {
		m, err := rules.Apply(mapping.CSVRecord{Header: header, Row: row}, opts)
		require.NoError(t, err)
		out = append(out, m)
	}
	return out
}

func TestCompileReportsEveryMistakeWithItsLine(t *testing.T) {
	src := `entity: customer
id: id
fields:
  emial: email
  phone: {from: phone, transform: "phone(XX)"}
  first_name: {from: first_name, transform: "trim|capitalize"}
  last_name: {from: "addresses.#(city==\"Dubai\"", transform: name}
  email: {from: email, const: x}
  attributes.tier: {from: tier, trnsform: upper}
`
	_, err := mapping.Parse("m.yaml", []byte(src))
	var ps mapping.Problems
	require.True(t, errors.As(err, &ps), "%v", err)
	lines := map[int]string{}
	for _, p := range ps {
		lines[p.Line] += p.Error() + "\n"
	}
	require.Contains(t, lines[4], `unknown customer field "emial"`)
	require.Contains(t, lines[5], "phone(XX): unknown region")
	require.Contains(t, lines[6], `unknown transform "capitalize"`)
	require.Contains(t, lines[7], "unclosed quote or bracket")
	require.Contains(t, lines[8], "from and const together")
	require.Contains(t, lines[9], `unknown key "trnsform"`)
	require.Len(t, ps, 6)
	require.True(t, strings.HasPrefix(ps[0].Error(), "m.yaml:4: "))
}

func TestCompileStructure(t *testing.T) {
	for name, src := range map[string]string{
		"no entity":     "id: id\nfields: {email: email}\n",
		"bad entity":    "entity: person\nid: id\nfields: {email: email}\n",
		"no id":         "entity: customer\nfields: {email: email}\n",
		"no fields":     "entity: customer\nid: id\n",
		"not a mapping": "- a\n- b\n",
		"syntax":        "entity: customer\nid: [\n",
		"twice":         "entity: customer\nid: id\nfields:\n  attributes.x: a\n  attributes.x: b\n",
		"join no sep":   "entity: customer\nid: id\nfields: {address.line1: {from: [a, b], transform: join}}\n",
		"map missing":   "entity: customer\nid: id\nfields: {address.country_code: {from: c, transform: map(nope.yaml)}}\n",
		"bad regex":     "entity: customer\nid: id\nfields: {email: {from: e, transform: 'regex([, )'}}\n",
		"no source":     "entity: customer\nid: id\nfields: {email: {transform: email}}\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := mapping.Parse("m.yaml", []byte(src))
			var ps mapping.Problems
			require.True(t, errors.As(err, &ps), "want problems, got %v", err)
			for _, p := range ps {
				require.NotEmpty(t, p.Message)
				require.Equal(t, "m.yaml", p.File)
			}
		})
	}
}

func TestApplyWithoutIDIsPermanent(t *testing.T) {
	rules, err := mapping.Parse("m.yaml", []byte("entity: customer\nid: id\nfields: {email: email}\n"))
	require.NoError(t, err)
	rec, err := mapping.JSONRecord([]byte(`{"email":"a@example.com"}`))
	require.NoError(t, err)
	_, err = rules.Apply(rec, mapping.Options{})
	require.ErrorIs(t, err, mapping.ErrNoID)
	require.True(t, crmhub.IsPermanent(err))

	_, err = mapping.JSONRecord([]byte(`{"email":`))
	require.ErrorIs(t, err, crmhub.ErrInvalid)
}

func TestCheckHeader(t *testing.T) {
	rules, err := mapping.Parse("m.yaml", []byte("entity: customer\nid: rec_id\nfields:\n  email: mail\n"))
	require.NoError(t, err)
	require.NoError(t, rules.CheckHeader([]string{"rec_id", "mail"}))
	err = rules.CheckHeader([]string{"rec_id", "email"})
	require.ErrorContains(t, err, `m.yaml:4: email: column "mail" is not in the file's header`)
	require.Equal(t, []string{"mail", "rec_id"}, rules.Columns())
}

func FuzzApply(f *testing.F) {
	var all []*mapping.Rules
	for _, p := range []string{"testdata/shopify_customer/mapping.yaml", "testdata/erp_order/mapping.yaml"} {
		rules, err := mapping.Load(p)
		if err != nil {
			f.Fatal(err)
		}
		all = append(all, rules)
	}
	f.Add([]byte(`{"id":1,"email":"a@b.co","phone":"+97150","tags":"a,b"}`))
	f.Add([]byte(`{"id":"x","addresses":[{"address1":null}]}`))
	f.Add([]byte(`{"invoice_no":"I","lines":[{"qty":1,"price":"1,5"},7,[]],"reversals":[{"amount":"x"}]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		rec, err := mapping.JSONRecord(payload)
		if err != nil {
			return
		}
		for _, rules := range all {
			_, _ = rules.Apply(rec, mapping.Options{DefaultRegion: "AE"})
		}
	})
}

func FuzzParse(f *testing.F) {
	for _, p := range []string{"testdata/shopify_customer/mapping.yaml", "testdata/meta_lead/mapping.yaml", "testdata/erp_order/mapping.yaml"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("entity: customer\nid: id\nfields: {email: {from: e, transform: 'regex((a|b), x)|lower'}}\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		_, _ = mapping.Parse("fuzz.yaml", src)
	})
}

func TestJSONRecordReadsFlatKeysWithDots(t *testing.T) {
	rec, err := mapping.JSONRecord([]byte(`{"address.city":"Dubai","date of birth":"1991-03-14","a":{"b":"nested"},"x|y":"pipe"}`))
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{"address.city": "Dubai", "date of birth": "1991-03-14", "a.b": "nested", "x|y": "pipe"} {
		if got := rec.Values(path); len(got) != 1 || got[0] != want {
			t.Errorf("Values(%q) = %v, want %q", path, got, want)
		}
	}
	if got := rec.Values("address.zip"); got != nil {
		t.Errorf("a missing dotted key gave %v", got)
	}
}

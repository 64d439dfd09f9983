package file_test

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/connectors/file"
)

func readAll(t *testing.T, r *file.Reader) []file.Line {
	t.Helper()
	var out []file.Line
	for {
		l, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(t, err)
		out = append(out, l)
	}
}

func TestCSV(t *testing.T) {
	// FEBRL's ", " separators, a quoted cell with a comma and a line
	// break, a short row, and leading zeros that must stay.
	in := "\ufeffrec_id, given_name, surname, postcode\n" +
		"rec-1-org, michaela, neumann, 0223\n" +
		"rec-2-org, \"Sara, Jr.\", \"Al\nAmiri\", 4017\n" +
		"rec-3-org, too, short\n" +
		"rec-4-org, courtney, painter, 4017\n"
	r, err := file.NewReader(strings.NewReader(in), file.FormatCSV)
	require.NoError(t, err)
	require.Equal(t, []string{"rec_id", "given_name", "surname", "postcode"}, r.Header())
	lines := readAll(t, r)
	require.Len(t, lines, 4)
	require.JSONEq(t, `{"rec_id":"rec-1-org","given_name":"michaela","surname":"neumann","postcode":"0223"}`, string(lines[0].Payload))
	require.Equal(t, 2, lines[0].Number)
	require.JSONEq(t, `{"rec_id":"rec-2-org","given_name":"Sara, Jr.","surname":"Al\nAmiri","postcode":"4017"}`, string(lines[1].Payload))
	require.Equal(t, 3, lines[1].Number)
	require.ErrorIs(t, lines[2].Err, crmhub.ErrInvalid)
	require.Contains(t, lines[2].Err.Error(), "line 5 has 3 fields, the header 4")
	require.Equal(t, 6, lines[3].Number, "reading goes on after a bad line")
}

func TestNDJSON(t *testing.T) {
	in := `{"id": 706405506930370084, "email": "a@example.com"}` + "\n\n" +
		`{"id": 2, "email": ` + "\n" +
		`[1, 2]` + "\n" +
		`{"id": "3"}`
	r, err := file.NewReader(strings.NewReader(in), file.FormatNDJSON)
	require.NoError(t, err)
	lines := readAll(t, r)
	require.Len(t, lines, 4)
	require.Equal(t, 1, lines[0].Number)
	require.Contains(t, string(lines[0].Payload), "706405506930370084")
	require.Equal(t, 3, lines[1].Number, "blank lines count but are not records")
	require.ErrorIs(t, lines[1].Err, crmhub.ErrInvalid)
	require.ErrorContains(t, lines[2].Err, "line 4 is not a JSON object")
	require.Equal(t, 5, lines[3].Number)
	require.NoError(t, lines[3].Err, "the last line needs no newline")
}

func TestNDJSONLineTooLong(t *testing.T) {
	long := `{"x":"` + strings.Repeat("a", 2<<20) + `"}`
	r, err := file.NewReader(strings.NewReader(long+"\n"+`{"id":1}`+"\n"), file.FormatNDJSON)
	require.NoError(t, err)
	lines := readAll(t, r)
	require.Len(t, lines, 2)
	require.ErrorContains(t, lines[0].Err, "longer than")
	require.Equal(t, 2, lines[1].Number)
	require.NoError(t, lines[1].Err)
}

func TestDetectFormat(t *testing.T) {
	for path, want := range map[string]string{"a.csv": "csv", "b.NDJSON": "ndjson", "c.jsonl": "ndjson"} {
		got, err := file.DetectFormat(path, "")
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
	_, err := file.DetectFormat("d.txt", "")
	require.Error(t, err)
	got, err := file.DetectFormat("d.txt", "csv")
	require.NoError(t, err)
	require.Equal(t, "csv", got)
}

func FuzzCSV(f *testing.F) {
	f.Add("id, name\n1, \"a, b\"\n2\n\"3\", x\"y\n")
	f.Add("\"unterminated\n")
	f.Fuzz(func(t *testing.T, in string) {
		r, err := file.NewReader(strings.NewReader(in), file.FormatCSV)
		if err != nil {
			return
		}
		for range 10000 {
			l, err := r.Next()
			if err != nil {
				return
			}
			if l.Err == nil && len(l.Fields) != len(r.Header()) {
				t.Fatalf("line %d: %d fields, header %d", l.Number, len(l.Fields), len(r.Header()))
			}
		}
	})
}

func FuzzNDJSON(f *testing.F) {
	f.Add("{\"a\":1}\n\nnot json\n{\"b\":")
	f.Fuzz(func(t *testing.T, in string) {
		r, err := file.NewReader(strings.NewReader(in), file.FormatNDJSON)
		if err != nil {
			t.Fatal(err)
		}
		for range 10000 {
			if _, err := r.Next(); err != nil {
				return
			}
		}
	})
}

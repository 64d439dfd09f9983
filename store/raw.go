package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// RawRecord is one record as a source delivered it, kept in the landing
// table so that profiles can be rebuilt from it.
type RawRecord struct {
	ID         int64             `db:"id"`
	Source     string            `db:"source"`
	Entity     string            `db:"entity"`
	ExternalID string            `db:"external_id"`
	Version    string            `db:"version"`
	Payload    []byte            `db:"payload"`
	Meta       map[string]string `db:"-"` // delivery details: topic, API version, webhook id
	// ContentHash is the hex SHA-256 of Payload; InsertRaw computes it when
	// empty.
	ContentHash string    `db:"content_hash"`
	ReceivedAt  time.Time `db:"received_at"`
}

func (rec *RawRecord) key() string {
	return rec.Source + "\x00" + rec.Entity + "\x00" + rec.ExternalID + "\x00" + rec.ContentHash
}

// InsertRaw lands records in the raw table and reports, for each one,
// whether it was new. A record whose source, entity, external id and
// content are already there is left as it is: landing the same delivery
// twice is a no-op.
func (t *Tx) InsertRaw(ctx context.Context, recs []RawRecord) ([]bool, error) {
	if len(recs) == 0 {
		return nil, nil
	}
	now := time.Now().UTC()
	const cols = 8
	args := make([]any, 0, len(recs)*cols)
	for i := range recs {
		rec := &recs[i]
		if rec.Source == "" || rec.Entity == "" || rec.ExternalID == "" {
			return nil, fmt.Errorf("land raw record %d: source, entity and external id are required", i)
		}
		if rec.ContentHash == "" {
			sum := sha256.Sum256(rec.Payload)
			rec.ContentHash = hex.EncodeToString(sum[:])
		}
		if rec.ReceivedAt.IsZero() {
			rec.ReceivedAt = now
		}
		meta := []byte("{}")
		if len(rec.Meta) > 0 {
			var err error
			if meta, err = json.Marshal(rec.Meta); err != nil {
				return nil, fmt.Errorf("encode raw record meta: %w", err)
			}
		}
		payload := rec.Payload
		if payload == nil {
			payload = []byte{}
		}
		args = append(args, rec.Source, rec.Entity, rec.ExternalID, rec.Version, rec.ContentHash, string(meta),
			payload, utc(rec.ReceivedAt))
	}
	inserted := make(map[string]int64, len(recs))
	per := t.d.chunkRows(cols)
	for start := 0; start < len(recs); start += per {
		n := min(per, len(recs)-start)
		q := `INSERT INTO raw_records (source, entity, external_id, version, content_hash, meta, payload, received_at)
			VALUES ` + valuesList(n, cols) + ` ON CONFLICT DO NOTHING
			RETURNING id, source, entity, external_id, content_hash`
		var rows []RawRecord
		if err := sqlxSelect(ctx, t.reader, &rows, q, args[start*cols:(start+n)*cols]...); err != nil {
			return nil, fmt.Errorf("land raw records: %w", err)
		}
		for i := range rows {
			inserted[rows[i].key()] = rows[i].ID
		}
	}
	out := make([]bool, len(recs))
	for i := range recs {
		if id, ok := inserted[recs[i].key()]; ok {
			recs[i].ID = id
			out[i] = true
			// A record repeated within one batch lands once.
			delete(inserted, recs[i].key())
		}
	}
	return out, nil
}

type rawRow struct {
	RawRecord
	MetaJSON []byte `db:"meta"`
}

// RawRecords returns up to limit landed records with an id greater than
// after, in landing order; source, when not empty, filters by source. Pass
// the last id seen as after to read the next page.
func (r reader) RawRecords(ctx context.Context, source string, after int64, limit int) ([]RawRecord, error) {
	q := `SELECT id, source, entity, external_id, version, content_hash, meta, payload, received_at
		FROM raw_records WHERE id > ?`
	args := []any{after}
	if source != "" {
		q += " AND source = ?"
		args = append(args, source)
	}
	q += " ORDER BY id LIMIT ?"
	args = append(args, limit)
	var rows []rawRow
	if err := sqlxSelect(ctx, r, &rows, q, args...); err != nil {
		return nil, fmt.Errorf("read raw records: %w", err)
	}
	out := make([]RawRecord, len(rows))
	for i, row := range rows {
		out[i] = row.RawRecord
		out[i].ReceivedAt = out[i].ReceivedAt.UTC()
		if len(row.MetaJSON) > 2 {
			if err := json.Unmarshal(row.MetaJSON, &out[i].Meta); err != nil {
				return nil, fmt.Errorf("decode meta of raw record %d: %w", row.ID, err)
			}
		}
	}
	return out, nil
}

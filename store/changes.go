package store

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// Channels a change can arrive by first; see ChangeCount.
const (
	// ChannelWebhook is a change first landed by a delivery a source
	// pushed (a webhook).
	ChannelWebhook = "webhook"
	// ChannelPull is a change first landed by a pull (a sync, the
	// scheduled reconciliation pull, an import).
	ChannelPull = "pull"
	// ChannelBackfill is a change first landed by a pull that is older
	// than the source's first counted change: history, which no webhook
	// could have delivered.
	ChannelBackfill = "backfill"
)

// ChangeCount is how many changes of one source arrived first by one
// channel. A change is a version of a record (source, entity, external id
// and a non-empty version) that no landed record had before.
type ChangeCount struct {
	Source  string    `db:"source" json:"source"`
	Channel string    `db:"channel" json:"channel"`
	Changes int64     `db:"changes" json:"changes"`
	FirstAt time.Time `db:"first_at" json:"first_at"`
	LastAt  time.Time `db:"last_at" json:"last_at"`
}

// versionKey names one version of one record of a source. Its version
// is the instant a time version names, in UTC: Shopify writes a record's
// updated_at in the shop's zone in webhooks and in UTC in the GraphQL
// Admin API, and the same instant is the same version.
type versionKey struct{ entity, externalID, version string }

func newVersionKey(entity, externalID, version string) versionKey {
	if at, err := time.Parse(time.RFC3339Nano, version); err == nil {
		version = at.UTC().Format(time.RFC3339Nano)
	}
	return versionKey{entity, externalID, version}
}

// NewVersions reports, for each record, whether it is a change: it has a
// version, and no landed record of its source, entity and external id
// has that version, nor does an earlier record of recs. Call it in the
// unit of work that lands recs, before InsertRaw.
func (t *Tx) NewVersions(ctx context.Context, recs []RawRecord) ([]bool, error) {
	type group struct{ source, entity string }
	ids := map[group][]string{}
	for _, r := range recs {
		if r.Version != "" {
			g := group{r.Source, r.Entity}
			ids[g] = append(ids[g], r.ExternalID)
		}
	}
	seen := map[string]map[versionKey]bool{}
	for g, list := range ids {
		slices.Sort(list)
		list = slices.Compact(list)
		if seen[g.source] == nil {
			seen[g.source] = map[versionKey]bool{}
		}
		per := t.d.chunkRows(1) - 2
		for start := 0; start < len(list); start += per {
			chunk := list[start:min(start+per, len(list))]
			var rows []struct {
				ExternalID string `db:"external_id"`
				Version    string `db:"version"`
			}
			args := append([]any{g.source, g.entity}, anySlice(chunk)...)
			if err := sqlxSelect(ctx, t.reader, &rows, `SELECT external_id, version FROM raw_records
				WHERE source = ? AND entity = ? AND external_id IN (`+placeholders(len(chunk))+`)`, args...); err != nil {
				return nil, fmt.Errorf("look up landed versions: %w", err)
			}
			for _, row := range rows {
				seen[g.source][newVersionKey(g.entity, row.ExternalID, row.Version)] = true
			}
		}
	}
	out := make([]bool, len(recs))
	for i, r := range recs {
		if r.Version == "" {
			continue
		}
		k := newVersionKey(r.Entity, r.ExternalID, r.Version)
		if !seen[r.Source][k] {
			out[i] = true
			seen[r.Source][k] = true
		}
	}
	return out, nil
}

// ChangesSince returns when counting started for each of the sources that
// has counted a change: the first_at of its earliest count.
func (t *Tx) ChangesSince(ctx context.Context, sources []string) (map[string]time.Time, error) {
	out := map[string]time.Time{}
	if len(sources) == 0 {
		return out, nil
	}
	// The earliest is picked here rather than with MIN(): SQLite reads an
	// aggregate of a TIMESTAMP column back as text.
	var rows []struct {
		Source  string    `db:"source"`
		FirstAt time.Time `db:"first_at"`
	}
	if err := sqlxSelect(ctx, t.reader, &rows, `SELECT source, first_at FROM change_counts
		WHERE source IN (`+placeholders(len(sources))+`)`, anySlice(sources)...); err != nil {
		return nil, fmt.Errorf("read change counts: %w", err)
	}
	for _, r := range rows {
		if at, ok := out[r.Source]; !ok || r.FirstAt.Before(at) {
			out[r.Source] = r.FirstAt.UTC()
		}
	}
	return out, nil
}

// AddChanges adds n changes of source first landed by channel, at now.
func (t *Tx) AddChanges(ctx context.Context, source, channel string, n int64, now time.Time) error {
	if n == 0 {
		return nil
	}
	now = now.UTC()
	_, err := t.exec(ctx, t.d.rebind(`INSERT INTO change_counts (source, channel, changes, first_at, last_at)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT (source, channel)
		DO UPDATE SET changes = change_counts.changes + excluded.changes, last_at = excluded.last_at`),
		source, channel, n, now, now)
	return wrap(err, "count changes of %s", source)
}

// ChangeCounts returns every source's change counts, by source and
// channel.
func (r reader) ChangeCounts(ctx context.Context) ([]ChangeCount, error) {
	var rows []ChangeCount
	if err := sqlxSelect(ctx, r, &rows, `SELECT source, channel, changes, first_at, last_at FROM change_counts
		ORDER BY source, channel`); err != nil {
		return nil, fmt.Errorf("read change counts: %w", err)
	}
	for i := range rows {
		rows[i].FirstAt, rows[i].LastAt = rows[i].FirstAt.UTC(), rows[i].LastAt.UTC()
	}
	return rows, nil
}

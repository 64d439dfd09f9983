package main

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub/pipeline"
	"github.com/crmhub/crmhub/pipeline/bus"
	"github.com/crmhub/crmhub/store"
)

func TestDLQListShowReplay(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "c.yaml", "store:\n  driver: sqlite\n  dsn: crmhub.db\n")
	r := runCLI(t, "dlq", "list", "-c", path)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "no dead letters")

	ctx := context.Background()
	s, err := store.Open(ctx, store.Options{Driver: store.DriverSQLite, DSN: filepath.Join(dir, "crmhub.db")})
	require.NoError(t, err)
	var ids []int64
	require.NoError(t, s.InTx(ctx, func(tx *store.Tx) error {
		for _, ext := range []string{"C-1", "C-2"} {
			id, err := tx.AddDeadLetter(ctx, store.DeadLetter{Key: "m-" + ext + "/map", Handler: pipeline.HandlerMap,
				Topic: pipeline.TopicRaw, Source: "erp", Entity: "customer", ExternalID: ext,
				Payload: []byte(`{"customer_no":"` + ext + `"`), Reason: "decode record " + ext + ": unexpected end of JSON input",
				Metadata: map[string]string{pipeline.MetaIdempotencyKey: "k-" + ext}})
			if err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return nil
	}))
	require.NoError(t, s.Close())

	r = runCLI(t, "dlq", "list", "-c", path)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "erp/customer/C-1")
	require.Contains(t, r.stdout, "unexpected end of JSON input")

	r = runCLI(t, "dlq", "show", "1", "-c", path)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, `{"customer_no":"C-1"`)
	require.Contains(t, r.stdout, "k-C-1")

	r = runCLI(t, "dlq", "show", "99", "-c", path)
	require.Equal(t, exitUsage, r.code, "an unknown id is a usage mistake")
	r = runCLI(t, "dlq", "replay", "-c", path)
	require.Equal(t, exitUsage, r.code, "replay needs ids or --all")

	r = runCLI(t, "dlq", "replay", "1", "-c", path)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "replayed 1 dead letters")
	r = runCLI(t, "dlq", "replay", "--all", "-c", path)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "replayed 1 dead letters")

	r = runCLI(t, "status", "-c", path)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "dead letters 0")

	// The replayed records are on the bus, with their idempotency keys,
	// waiting for the stage that failed on them.
	s, err = store.Open(ctx, store.Options{Driver: store.DriverSQLite, DSN: filepath.Join(dir, "crmhub.db")})
	require.NoError(t, err)
	defer s.Close()
	b, err := bus.Open(ctx, bus.Options{Driver: bus.DriverSQLite, DB: s.DB(), ReadDB: s.ReadDB()})
	require.NoError(t, err)
	defer b.Close()
	msgs, err := b.Subscribe(ctx, pipeline.TopicRaw)
	require.NoError(t, err)
	keys := map[string]bool{}
	for range 2 {
		select {
		case m := <-msgs:
			keys[m.Metadata.Get(pipeline.MetaIdempotencyKey)] = true
			m.Ack()
		case <-time.After(10 * time.Second):
			t.Fatal("replayed message not on the bus")
		}
	}
	require.Equal(t, map[string]bool{"k-C-1": true, "k-C-2": true}, keys)
}

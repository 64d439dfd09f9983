package api_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub/api"
	"github.com/crmhub/crmhub/pipeline"
	"github.com/crmhub/crmhub/store"
)

type deadLetterBody struct {
	ID              int64             `json:"id"`
	Stage           string            `json:"stage"`
	Topic           string            `json:"topic"`
	Source          string            `json:"source"`
	Entity          string            `json:"entity"`
	ExternalID      string            `json:"external_id"`
	Reason          string            `json:"reason"`
	Attempts        int               `json:"attempts"`
	Metadata        map[string]string `json:"metadata"`
	Payload         *string           `json:"payload"`
	PayloadEncoding string            `json:"payload_encoding"`
}

// addDeadLetters stores dead letters for records C-0.. with the given
// payloads and returns their ids.
func addDeadLetters(t *testing.T, s *store.Store, topic string, payloads ...[]byte) []int64 {
	t.Helper()
	ctx := context.Background()
	var ids []int64
	require.NoError(t, s.InTx(ctx, func(tx *store.Tx) error {
		for i, p := range payloads {
			ext := fmt.Sprintf("C-%d", i)
			id, err := tx.AddDeadLetter(ctx, store.DeadLetter{Key: "m-" + ext + "/map", Handler: pipeline.HandlerMap,
				Topic: topic, Source: "erp", Entity: "customer", ExternalID: ext, Payload: p,
				Reason:   "decode record " + ext + ": unexpected end of JSON input",
				Metadata: map[string]string{pipeline.MetaIdempotencyKey: "k-" + ext}})
			if err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return nil
	}))
	return ids
}

func TestDeadLetters(t *testing.T) {
	f := newFixture(t)
	binary := []byte{0xff, 0xfe, 0x00, 'x'}
	payloads := [][]byte{[]byte(`{"customer_no":"C-0"`), binary, []byte(`{"customer_no":"C-2"`),
		[]byte(`{"customer_no":"C-3"`), []byte(`{"customer_no":"C-4"`)}
	ids := addDeadLetters(t, f.store, pipeline.TopicRaw, payloads...)

	list := walk[deadLetterBody](t, f, "/api/v1/dead-letters", 2, nil)
	require.Len(t, list, len(ids))
	for i, dl := range list {
		require.Equal(t, ids[i], dl.ID, "oldest first")
		require.Equal(t, pipeline.HandlerMap, dl.Stage)
		require.Equal(t, fmt.Sprintf("C-%d", i), dl.ExternalID)
		require.Nil(t, dl.Payload, "lists leave payloads out")
		require.Nil(t, dl.Metadata)
	}

	var text, bin deadLetterBody
	f.get(t, fmt.Sprint("/api/v1/dead-letters/", ids[0]), &text)
	require.Equal(t, "utf-8", text.PayloadEncoding)
	require.Equal(t, string(payloads[0]), *text.Payload)
	require.Equal(t, "k-C-0", text.Metadata[pipeline.MetaIdempotencyKey])
	require.Contains(t, text.Reason, "unexpected end of JSON input")
	f.get(t, fmt.Sprint("/api/v1/dead-letters/", ids[1]), &bin)
	require.Equal(t, "base64", bin.PayloadEncoding)
	require.Equal(t, base64.StdEncoding.EncodeToString(binary), *bin.Payload)

	write := f.token[store.ScopeWrite]
	resp, body := f.do(t, http.MethodPost, fmt.Sprint("/api/v1/dead-letters/", ids[0], "/replay"), write, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	require.JSONEq(t, fmt.Sprintf(`{"id":%d,"topic":%q}`, ids[0], pipeline.TopicRaw), string(body))
	sent := f.bus.on(pipeline.TopicRaw)
	require.Len(t, sent, 1, "the record is back on its topic")
	require.Equal(t, payloads[0], []byte(sent[0].Payload))
	require.Equal(t, "k-C-0", sent[0].Metadata.Get(pipeline.MetaIdempotencyKey), "with its idempotency key")

	resp, body = f.do(t, http.MethodGet, fmt.Sprint("/api/v1/dead-letters/", ids[0]), write, nil)
	requireError(t, resp, body, http.StatusNotFound, api.CodeNotFound)
	resp, body = f.do(t, http.MethodPost, fmt.Sprint("/api/v1/dead-letters/", ids[0], "/replay"), write, nil)
	requireError(t, resp, body, http.StatusNotFound, api.CodeNotFound)
	require.Len(t, f.bus.on(pipeline.TopicRaw), 1, "nothing is published for a dead letter that is gone")

	for _, bad := range []string{"0", "-1", "abc"} {
		resp, body = f.do(t, http.MethodGet, "/api/v1/dead-letters/"+bad, write, nil)
		requireError(t, resp, body, http.StatusBadRequest, api.CodeInvalidParameter)
	}
}

func TestReplayWithoutTopicIsAConflict(t *testing.T) {
	f := newFixture(t)
	ids := addDeadLetters(t, f.store, "", []byte(`{}`))
	resp, body := f.do(t, http.MethodPost, fmt.Sprint("/api/v1/dead-letters/", ids[0], "/replay"), f.token[store.ScopeWrite], nil)
	requireError(t, resp, body, http.StatusConflict, api.CodeConflict)
	_, err := f.store.DeadLetter(context.Background(), ids[0])
	require.NoError(t, err, "the dead letter stays")
}

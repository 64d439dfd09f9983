package shopify

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/crmhub/crmhub"
)

// Statuses of a bulk operation (BulkOperationStatus).
const (
	BulkCreated   = "CREATED"
	BulkRunning   = "RUNNING"
	BulkCompleted = "COMPLETED"
	BulkFailed    = "FAILED"
	BulkCanceling = "CANCELING"
	BulkCanceled  = "CANCELED"
	BulkExpired   = "EXPIRED"
)

// Error codes of a failed bulk operation (BulkOperationErrorCode).
const (
	BulkAccessDenied   = "ACCESS_DENIED"
	BulkInternalError  = "INTERNAL_SERVER_ERROR"
	BulkTimeout        = "TIMEOUT"
	bulkLimitReached   = "LIMIT_REACHED"
	bulkInProgress     = "OPERATION_IN_PROGRESS"
	bulkInProgressText = "already in progress"
)

// BulkOperation is a bulk query operation as the Admin API reports it.
type BulkOperation struct {
	ID        string  `json:"id"`
	Status    string  `json:"status"`
	ErrorCode *string `json:"errorCode"`
	CreatedAt string  `json:"createdAt"`
	// ObjectCount counts the objects written so far, children included
	// (an UnsignedInt64, which GraphQL writes as a string).
	ObjectCount string `json:"objectCount"`
	// URL is the JSONL file of a completed operation; PartialDataURL what
	// a failed one wrote before it failed. Both are signed and expire
	// after seven days: they are never logged nor stored.
	URL            *string `json:"url"`
	PartialDataURL *string `json:"partialDataUrl"`
	// Query is the query the operation runs.
	Query string `json:"query"`
}

// Objects returns ObjectCount as a number, 0 when Shopify wrote none.
func (op BulkOperation) Objects() int64 {
	n, _ := strconv.ParseInt(op.ObjectCount, 10, 64)
	return n
}

// Created returns when the operation was created, by Shopify's clock.
func (op BulkOperation) Created() (time.Time, error) {
	t, err := time.Parse(time.RFC3339, op.CreatedAt)
	if err != nil {
		return time.Time{}, fmt.Errorf("bulk operation %s: createdAt %q: %w", op.ID, op.CreatedAt, err)
	}
	return t.UTC(), nil
}

func (op BulkOperation) errorCode() string {
	if op.ErrorCode == nil {
		return ""
	}
	return *op.ErrorCode
}

// finished says whether the operation will not change any more.
func (op BulkOperation) finished() bool {
	switch op.Status {
	case BulkCompleted, BulkFailed, BulkCanceled, BulkExpired:
		return true
	}
	return false
}

// bulkFields are the fields of a BulkOperation crmhub reads.
const bulkFields = `id status errorCode createdAt objectCount url partialDataUrl query`

// bulkOperationQuery reads one operation by its id; node works on every
// API version, bulkOperation(id:) only from 2026-01.
const bulkOperationQuery = `query CrmhubBulkOperation($id: ID!) {
  node(id: $id) { ... on BulkOperation { ` + bulkFields + ` } }
}`

// bulkOperationsQuery lists the app's newest bulk query operations
// (2026-01 and later, where several may run at once).
const bulkOperationsQuery = `query CrmhubBulkOperations {
  bulkOperations(first: 10, query: "operation_type:query") { nodes { ` + bulkFields + ` } }
}`

// currentBulkOperationQuery reads the app's newest bulk query operation
// (before 2026-01, where only one runs at a time).
const currentBulkOperationQuery = `query CrmhubCurrentBulkOperation {
  currentBulkOperation(type: QUERY) { ` + bulkFields + ` }
}`

// bulkRunMutation starts a bulk query operation. groupObjects: true asks
// for every child line right below its parent, which is what lets a file
// be joined while it streams; it is false by default from 2026-01 on.
const bulkRunMutation = `mutation CrmhubBulkRun($query: String!, $groupObjects: Boolean!) {
  bulkOperationRunQuery(query: $query, groupObjects: $groupObjects) {
    bulkOperation { ` + bulkFields + ` }
    userErrors { field message code }
  }
}`

// bulkRunMutationGrouped is bulkRunMutation for API versions before
// 2025-07, which group children under their parent and know no
// groupObjects argument.
const bulkRunMutationGrouped = `mutation CrmhubBulkRun($query: String!) {
  bulkOperationRunQuery(query: $query) {
    bulkOperation { ` + bulkFields + ` }
    userErrors { field message code }
  }
}`

// bulkAPI starts and reads bulk operations through a Querier.
type bulkAPI struct {
	q          Querier
	apiVersion string
}

// versionAtLeast compares API versions (2026-01); unstable is newer than
// any.
func versionAtLeast(v, min string) bool { return v == "unstable" || v >= min }

// operation reads one operation by its id.
func (b bulkAPI) operation(ctx context.Context, id string) (BulkOperation, error) {
	var out struct {
		Node *BulkOperation `json:"node"`
	}
	if err := b.q.Query(ctx, bulkOperationQuery, map[string]any{"id": id}, &out); err != nil {
		return BulkOperation{}, fmt.Errorf("read bulk operation %s: %w", id, err)
	}
	if out.Node == nil || out.Node.ID == "" {
		return BulkOperation{}, crmhub.Permanent(fmt.Errorf("bulk operation %s: shopify knows no such operation", id))
	}
	return *out.Node, nil
}

// recent returns the app's newest bulk query operations, newest first.
func (b bulkAPI) recent(ctx context.Context) ([]BulkOperation, error) {
	if versionAtLeast(b.apiVersion, "2026-01") {
		var out struct {
			BulkOperations struct {
				Nodes []BulkOperation `json:"nodes"`
			} `json:"bulkOperations"`
		}
		if err := b.q.Query(ctx, bulkOperationsQuery, nil, &out); err != nil {
			return nil, fmt.Errorf("list bulk operations: %w", err)
		}
		return out.BulkOperations.Nodes, nil
	}
	var out struct {
		Current *BulkOperation `json:"currentBulkOperation"`
	}
	if err := b.q.Query(ctx, currentBulkOperationQuery, nil, &out); err != nil {
		return nil, fmt.Errorf("read the current bulk operation: %w", err)
	}
	if out.Current == nil {
		return nil, nil
	}
	return []BulkOperation{*out.Current}, nil
}

// errBulkBusy is a start refused because the shop runs as many bulk query
// operations of the app as the API version allows.
var errBulkBusy = errors.New("shopify bulk operation limit reached")

// bulkUserError is an error of bulkOperationRunQuery's input.
type bulkUserError struct {
	Field   []string `json:"field"`
	Message string   `json:"message"`
	Code    *string  `json:"code"`
}

// start starts a bulk operation of query. It returns an error wrapping
// errBulkBusy, with Shopify's message, when the shop runs as many as it
// allows.
func (b bulkAPI) start(ctx context.Context, query string) (BulkOperation, error) {
	mutation, vars := bulkRunMutation, map[string]any{"query": query, "groupObjects": true}
	if !versionAtLeast(b.apiVersion, "2025-07") {
		mutation, vars = bulkRunMutationGrouped, map[string]any{"query": query}
	}
	var out struct {
		Run struct {
			Op         *BulkOperation  `json:"bulkOperation"`
			UserErrors []bulkUserError `json:"userErrors"`
		} `json:"bulkOperationRunQuery"`
	}
	if err := b.q.Query(ctx, mutation, vars, &out); err != nil {
		return BulkOperation{}, fmt.Errorf("start bulk operation: %w", err)
	}
	var msgs []string
	busy := false
	for _, ue := range out.Run.UserErrors {
		if ue.Message == "" && ue.Code == nil {
			continue
		}
		msgs = append(msgs, ue.Message)
		code := ""
		if ue.Code != nil {
			code = *ue.Code
		}
		busy = busy || code == bulkInProgress || code == bulkLimitReached || strings.Contains(ue.Message, bulkInProgressText)
	}
	switch {
	case busy:
		return BulkOperation{}, fmt.Errorf("%w: %s", errBulkBusy, strings.Join(msgs, "; "))
	case len(msgs) > 0:
		return BulkOperation{}, crmhub.Permanent(fmt.Errorf("start bulk operation: shopify refused it: %s", strings.Join(msgs, "; ")))
	case out.Run.Op == nil || out.Run.Op.ID == "":
		return BulkOperation{}, fmt.Errorf("start bulk operation: shopify answered without an operation")
	}
	return *out.Run.Op, nil
}

// sameQuery says whether two bulk queries are the same but for spacing.
func sameQuery(a, b string) bool {
	return strings.Join(strings.Fields(a), " ") == strings.Join(strings.Fields(b), " ")
}

// customersBulkQuery selects the customers updated since since (all of
// them when since is zero), with the fields the page query reads.
func customersBulkQuery(since time.Time) string {
	return `{
  customers` + searchArg(since) + ` {
    edges {
      node {
        ` + customerFields + `
      }
    }
  }
}`
}

// ordersBulkQuery selects the orders updated since since (all of them when
// since is zero) with their line items, which come as lines of their own
// that name their order in __parentId.
func ordersBulkQuery(since time.Time) string {
	return `{
  orders` + searchArg(since) + ` {
    edges {
      node {
        ` + orderFields + `
        lineItems {
          edges { node { id ` + lineItemNodeFields + ` } }
        }
      }
    }
  }
}`
}

// searchArg is the search argument of a connection for records updated
// since since; Shopify's search reads > as >= and keeps whole seconds.
func searchArg(since time.Time) string {
	if since.IsZero() {
		return ""
	}
	return `(query: "updated_at:>='` + since.UTC().Truncate(time.Second).Format(time.RFC3339) + `'")`
}

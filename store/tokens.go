package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/crmhub/crmhub"
)

// Token scopes, each including the ones before it.
const (
	ScopeRead  = "read"
	ScopeWrite = "write"
	ScopeAdmin = "admin"
)

// Scopes lists the token scopes from least to most privileged.
var Scopes = []string{ScopeRead, ScopeWrite, ScopeAdmin}

// Token is an API token as stored: its secret is never kept, only a hash.
type Token struct {
	ID         string       `db:"id"`
	Name       string       `db:"name"`
	Scope      string       `db:"scope"`
	CreatedAt  time.Time    `db:"created_at"`
	LastUsedAt sql.NullTime `db:"last_used_at"`
	RevokedAt  sql.NullTime `db:"revoked_at"`
}

// Allows reports whether a token of this scope may do what need requires:
// admin includes write, write includes read. A revoked token allows nothing.
func (t Token) Allows(need string) bool {
	have, want := slices.Index(Scopes, t.Scope), slices.Index(Scopes, need)
	return !t.RevokedAt.Valid && have >= 0 && want >= 0 && have >= want
}

// tokenPrefix makes crmhub tokens recognisable to secret scanners.
const tokenPrefix = "crmhub_"

// hashToken is what the store keeps of a token. Tokens carry 256 random
// bits, so a fast hash is enough: there is nothing to brute-force.
func hashToken(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// CreateToken makes a new API token and returns it with its secret. The
// secret is shown to the caller once and cannot be recovered: only its
// hash is stored.
func (t *Tx) CreateToken(ctx context.Context, name, scope string) (Token, string, error) {
	if name == "" {
		return Token{}, "", fmt.Errorf("create token: a name is required: %w", crmhub.ErrInvalid)
	}
	if !slices.Contains(Scopes, scope) {
		return Token{}, "", fmt.Errorf("create token: scope %q: want one of %v: %w", scope, Scopes, crmhub.ErrInvalid)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return Token{}, "", fmt.Errorf("create token: %w", err)
	}
	secret := tokenPrefix + base64.RawURLEncoding.EncodeToString(raw)
	tok := Token{ID: crmhub.NewID(crmhub.TokenIDPrefix), Name: name, Scope: scope, CreatedAt: time.Now().UTC()}
	if _, err := t.exec(ctx, t.d.rebind(`INSERT INTO api_tokens (id, name, hash, scope, created_at)
		VALUES (?, ?, ?, ?, ?)`), tok.ID, tok.Name, hashToken(secret), tok.Scope, tok.CreatedAt); err != nil {
		return Token{}, "", fmt.Errorf("create token %q: %w", name, err)
	}
	return tok, secret, nil
}

// RevokeToken revokes a token by id. Revoking twice is not an error.
func (t *Tx) RevokeToken(ctx context.Context, id string) error {
	res, err := t.exec(ctx, t.d.rebind(`UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, ?)
		WHERE id = ?`), time.Now().UTC(), id)
	if err != nil {
		return fmt.Errorf("revoke token %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("token %s: %w", id, crmhub.ErrNotFound)
	}
	return nil
}

// TouchToken records that a token was just used.
func (t *Tx) TouchToken(ctx context.Context, id string) error {
	_, err := t.exec(ctx, t.d.rebind("UPDATE api_tokens SET last_used_at = ? WHERE id = ?"), time.Now().UTC(), id)
	return wrap(err, "touch token %s", id)
}

// TouchToken records that a token was just used, in a unit of work of its
// own: the API calls it outside any other write.
func (s *Store) TouchToken(ctx context.Context, id string) error {
	return s.InTx(ctx, func(tx *Tx) error { return tx.TouchToken(ctx, id) })
}

const tokenColumns = "id, name, scope, created_at, last_used_at, revoked_at"

// Authenticate returns the token whose secret was presented. It returns an
// error wrapping crmhub.ErrNotFound for an unknown or revoked token, so
// callers cannot tell the two apart by accident.
func (r reader) Authenticate(ctx context.Context, secret string) (Token, error) {
	var tok Token
	err := sqlxGet(ctx, r, &tok, "SELECT "+tokenColumns+" FROM api_tokens WHERE hash = ? AND revoked_at IS NULL",
		hashToken(secret))
	if errors.Is(err, sql.ErrNoRows) {
		return Token{}, fmt.Errorf("token: %w", crmhub.ErrNotFound)
	}
	if err != nil {
		return Token{}, fmt.Errorf("authenticate token: %w", err)
	}
	tok.CreatedAt = tok.CreatedAt.UTC()
	return tok, nil
}

// Tokens lists every token, revoked ones included, oldest first.
func (r reader) Tokens(ctx context.Context) ([]Token, error) {
	var toks []Token
	err := sqlxSelect(ctx, r, &toks, "SELECT "+tokenColumns+" FROM api_tokens ORDER BY created_at, id")
	return toks, wrap(err, "list tokens")
}

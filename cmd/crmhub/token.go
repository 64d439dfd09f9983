package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/store"
)

func newTokenCmd(g *globals) *cobra.Command {
	return groupCmd("token", "Create, list and revoke API tokens",
		`Every request to the REST API under /api needs a token: Authorization: Bearer TOKEN.
A token has a scope: read (GET routes), write (also replays and merges) or admin (everything).
The token itself is printed once, when it is made; the store keeps only its hash, so a lost
token cannot be shown again: revoke it and make another.`,
		newTokenCreateCmd(g), newTokenListCmd(g), newTokenRevokeCmd(g))
}

func newTokenCreateCmd(g *globals) *cobra.Command {
	var name, scope string
	cmd := &cobra.Command{
		Use:   "create --name NAME --scope read|write|admin",
		Short: "Make an API token and print it, once",
		Long: `Make an API token and print it on standard output, alone on its line, so that a script can
capture it; what it is and how to use it go to standard error. It is never shown again.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if name == "" {
				return usagef("a token needs a name saying who or what uses it: --name NAME")
			}
			ctx := cmd.Context()
			app, err := g.open(ctx, false)
			if err != nil {
				return err
			}
			defer app.close()
			var (
				tok    store.Token
				secret string
			)
			err = app.store.InTx(ctx, func(tx *store.Tx) (err error) {
				tok, secret, err = tx.CreateToken(ctx, name, scope)
				return err
			})
			if errors.Is(err, crmhub.ErrInvalid) {
				return usageError{err}
			}
			if err != nil {
				return err
			}
			fprintf(g.stdout, "%s\n", secret)
			fprintf(g.stderr, "created token %s (%q, scope %s); it is shown only this once.\n", tok.ID, tok.Name, tok.Scope)
			fprintf(g.stderr, "use it as: Authorization: Bearer TOKEN; revoke it with: crmhub token revoke %s\n", tok.ID)
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "who or what uses the token, e.g. mis-reporting (required)")
	cmd.Flags().StringVar(&scope, "scope", store.ScopeRead, "read, write or admin")
	return cmd
}

func newTokenListCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List API tokens, revoked ones included (never their secrets)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.readStore(cmd.Context(), func(s *store.Store) error {
				toks, err := s.Tokens(cmd.Context())
				if err != nil {
					return err
				}
				return tokenListing.print(g.stdout, tokenViews(toks), asJSON, false)
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	return cmd
}

// tokenListing is how `crmhub token list` prints tokens.
var tokenListing = listing[tokenView]{
	empty:  "no tokens; make one with: crmhub token create --name NAME --scope read",
	header: "ID\tNAME\tSCOPE\tCREATED\tLAST USED\tREVOKED",
	row: func(v tokenView) []any {
		return []any{v.ID, v.Name, v.Scope, v.CreatedAt.Format(time.RFC3339), timeOrDash(v.LastUsedAt), timeOrDash(v.RevokedAt)}
	},
}

// tokenView is a token as `crmhub token list` shows it.
type tokenView struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Scope      string     `json:"scope"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
}

func tokenViews(toks []store.Token) []tokenView {
	out := make([]tokenView, len(toks))
	for i, t := range toks {
		out[i] = tokenView{ID: t.ID, Name: t.Name, Scope: t.Scope, CreatedAt: t.CreatedAt.UTC()}
		if t.LastUsedAt.Valid {
			at := t.LastUsedAt.Time.UTC()
			out[i].LastUsedAt = &at
		}
		if t.RevokedAt.Valid {
			at := t.RevokedAt.Time.UTC()
			out[i].RevokedAt = &at
		}
	}
	return out
}

func timeOrDash(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Format(time.RFC3339)
}

func newTokenRevokeCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke an API token: requests with it are refused from now on",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			app, err := g.open(ctx, false)
			if err != nil {
				return err
			}
			defer app.close()
			err = app.store.InTx(ctx, func(tx *store.Tx) error { return tx.RevokeToken(ctx, args[0]) })
			if errors.Is(err, crmhub.ErrNotFound) {
				return usageError{fmt.Errorf("%w; see crmhub token list", err)}
			}
			if err != nil {
				return err
			}
			fprintf(g.stdout, "revoked token %s\n", args[0])
			return nil
		},
	}
}

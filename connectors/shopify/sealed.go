package shopify

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"golang.org/x/oauth2"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/store"
)

// The tokens of a shop that installed a public app live in the store's
// shop_tokens table, one row per shop, sealed: AES-256-GCM under a key
// derived from the app's client secret, with the shop's domain as
// additional data. The secret is not in the store, so a copy of the
// database does not give access to the shops, and a sealed token does not
// open as another shop's. Rotating the client secret makes the stored
// tokens unreadable: the shops install the app again.

// TokenStore keeps the sealed tokens of shops; *store.Store is one.
type TokenStore interface {
	// ShopToken returns a shop's token, or an error wrapping
	// crmhub.ErrNotFound.
	ShopToken(ctx context.Context, shop string) (store.ShopToken, error)
	// SaveShopToken stores a shop's token, replacing the one it had.
	SaveShopToken(ctx context.Context, t store.ShopToken) error
}

// shopTokens is what a sealed token holds.
type shopTokens struct {
	AccessToken   string    `json:"access_token"`
	RefreshToken  string    `json:"refresh_token,omitempty"`
	Expiry        time.Time `json:"expiry,omitzero"`
	RefreshExpiry time.Time `json:"refresh_expiry,omitzero"`
}

const sealVersion = 1

func sealKey(clientSecret string) []byte {
	mac := hmac.New(sha256.New, []byte(clientSecret))
	mac.Write([]byte("crmhub shop tokens v1"))
	return mac.Sum(nil)
}

func gcm(clientSecret string) (cipher.AEAD, error) {
	block, err := aes.NewCipher(sealKey(clientSecret))
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// seal encrypts a shop's tokens.
func seal(clientSecret, shop string, t shopTokens) ([]byte, error) {
	plain, err := json.Marshal(t)
	if err != nil {
		return nil, err
	}
	aead, err := gcm(clientSecret)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 1+aead.NonceSize(), 1+aead.NonceSize()+len(plain)+aead.Overhead())
	out[0] = sealVersion
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, err
	}
	return aead.Seal(out, out[1:], plain, []byte(shop)), nil
}

// unseal decrypts what seal made for the same secret and shop.
func unseal(clientSecret, shop string, b []byte) (shopTokens, error) {
	var t shopTokens
	aead, err := gcm(clientSecret)
	if err != nil {
		return t, err
	}
	if len(b) < 1+aead.NonceSize() || b[0] != sealVersion {
		return t, errors.New("not a sealed token")
	}
	nonce, box := b[1:1+aead.NonceSize()], b[1+aead.NonceSize():]
	plain, err := aead.Open(nil, nonce, box, []byte(shop))
	if err != nil {
		return t, errors.New("the sealed token does not open with this client secret")
	}
	return t, json.Unmarshal(plain, &t)
}

// saveTokens seals tok and stores it for the source's shop.
func saveTokens(ctx context.Context, st TokenStore, src InstallSource, tok *oauth2.Token, now time.Time) error {
	t := shopTokens{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, Expiry: expiryOf(tok, now)}
	if s := seconds(tok.Extra("refresh_token_expires_in")); s > 0 {
		t.RefreshExpiry = now.Add(time.Duration(s) * time.Second)
	}
	sealed, err := seal(src.ClientSecret, src.Shop, t)
	if err != nil {
		return fmt.Errorf("seal token of shop %s: %w", src.Shop, err)
	}
	row := store.ShopToken{Shop: src.Shop, ClientID: src.ClientID, Sealed: sealed}
	if scope, ok := tok.Extra("scope").(string); ok {
		row.Scope = scope
	}
	if !t.Expiry.IsZero() {
		row.ExpiresAt = sql.NullTime{Time: t.Expiry, Valid: true}
	}
	return st.SaveShopToken(ctx, row)
}

// seconds reads a JSON number of seconds.
func seconds(v any) int64 {
	switch n := v.(type) {
	case float64:
		return int64(n)
	case json.Number:
		i, _ := n.Int64()
		return i
	}
	return 0
}

// InstalledTokens returns the TokenSource of a shop that installed the
// source's public app: the token stored at the install, renewed with its
// refresh token before it expires and stored again (Shopify replaces the
// refresh token at every renewal). Another process that renewed first
// leaves its token in the store, where this one finds it. It does no I/O.
func InstalledTokens(src InstallSource, st TokenStore, opts TokenOptions) *TokenSource {
	httpc := &http.Client{Timeout: 30 * time.Second}
	conf := src.oauthConfig()
	var last string
	now, early := opts.Now, opts.Early
	if now == nil {
		now = time.Now
	}
	if early <= 0 {
		early = DefaultRefreshEarly
	}
	return NewTokenSource(func(ctx context.Context) (*oauth2.Token, error) {
		row, err := st.ShopToken(ctx, src.Shop)
		if errors.Is(err, crmhub.ErrNotFound) {
			return nil, crmhub.Permanent(fmt.Errorf("shop %s has not installed the app of source %s yet: open "+
				"PUBLIC_URL%s?shop=%s in a browser logged in to the shop", src.Shop, src.Name, InstallPath, src.Shop))
		}
		if err != nil {
			return nil, err
		}
		t, err := unseal(src.ClientSecret, src.Shop, row.Sealed)
		if err != nil {
			return nil, crmhub.Permanent(fmt.Errorf("token of shop %s: %w; install the app again", src.Shop, err))
		}
		stored := &oauth2.Token{AccessToken: t.AccessToken, RefreshToken: t.RefreshToken, Expiry: t.Expiry}
		fresh := t.Expiry.IsZero() || now().Add(early).Before(t.Expiry)
		if stored.AccessToken != last && fresh {
			last = stored.AccessToken
			return stored, nil
		}
		if t.RefreshToken == "" {
			return nil, crmhub.Permanent(fmt.Errorf("the token of shop %s was refused and has no refresh token; install the app again", src.Shop))
		}
		start := now()
		stored.Expiry = start.Add(-time.Second) // make oauth2 refresh now
		tok, err := conf.TokenSource(oauthContext(ctx, httpc), stored).Token()
		if err != nil {
			return nil, err
		}
		if err := saveTokens(ctx, st, src, tok, start); err != nil {
			return nil, err
		}
		last = tok.AccessToken
		return tok, nil
	}, opts)
}

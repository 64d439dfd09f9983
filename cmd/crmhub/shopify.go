package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/crmhub/crmhub/api"
	"github.com/crmhub/crmhub/config"
	"github.com/crmhub/crmhub/connectors/shopify"
)

// newShopifyClient builds the GraphQL client of a shopify source, with
// the credentials its config gives: an access token, the client
// credentials grant, or the token its shop's install stored in tokens.
func newShopifyClient(tokens shopify.TokenStore, src *config.SourceConfig, log *slog.Logger) (*shopify.Client, error) {
	return shopify.NewClient(shopifyClientConfig(tokens, src, src.BaseURL), log)
}

// shopifyClientConfig is the client config of a shopify source's shop at
// baseURL (empty for the shop itself). Every client of a shop in the
// process paces by the shop's shared budget.
func shopifyClientConfig(tokens shopify.TokenStore, src *config.SourceConfig, baseURL string) shopify.ClientConfig {
	cfg := shopify.ClientConfig{Shop: src.Shop, APIVersion: src.APIVersion, BaseURL: baseURL,
		Budget: shopify.SharedBudget(src.Shop, baseURL)}
	switch {
	case src.Auth == config.ShopifyAuthInstall:
		cfg.Tokens = shopify.InstalledTokens(installSource(src), tokens, shopify.TokenOptions{})
	case src.ClientID != "":
		cfg.ClientID, cfg.ClientSecret = src.ClientID, src.ClientSecret.Reveal()
	default:
		cfg.AccessToken = src.AccessToken.Reveal()
	}
	return cfg
}

func installSource(src *config.SourceConfig) shopify.InstallSource {
	return shopify.InstallSource{Name: src.Name, Shop: src.Shop, ClientID: src.ClientID,
		ClientSecret: src.ClientSecret.Reveal(), Scopes: src.Scopes, BaseURL: src.BaseURL}
}

// mountShopifyInstall serves the install flow of the sources whose shops
// install a public app (auth: install), when there are any.
func (a *app) mountShopifyInstall(srv *api.Server) error {
	var sources []shopify.InstallSource
	for i := range a.cfg.Sources {
		if s := &a.cfg.Sources[i]; s.Type == shopify.SourceType && s.Auth == config.ShopifyAuthInstall {
			sources = append(sources, installSource(s))
		}
	}
	if len(sources) == 0 {
		return nil
	}
	inst, err := shopify.NewInstaller(shopify.InstallOptions{PublicURL: a.cfg.HTTP.PublicURL, States: a.store,
		Tokens: a.store, Logger: a.log}, sources...)
	if err != nil {
		return err
	}
	srv.Handle("GET "+shopify.InstallPath, http.HandlerFunc(inst.ServeInstall))
	srv.Handle("GET "+shopify.CallbackPath, http.HandlerFunc(inst.ServeCallback))
	for _, s := range sources {
		a.log.Info("shopify install flow served", "source", s.Name, "start", a.cfg.HTTP.PublicURL+shopify.InstallPath+"?shop="+s.Shop)
	}
	return nil
}

func newShopifyCmd(g *globals) *cobra.Command {
	return groupCmd("shopify", "Manage what Shopify holds for crmhub: webhook subscriptions", "",
		groupCmd("webhooks", "Manage a shopify source's webhook subscriptions", "", newShopifyWebhooksSyncCmd(g)))
}

func newShopifyWebhooksSyncCmd(g *globals) *cobra.Command {
	var (
		publicURL      string
		dryRun, asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "sync SOURCE",
		Short: "Subscribe the shop to the webhooks the source needs, at crmhub's public URL",
		Long: `Make the shop's webhook subscriptions of the app match what the source needs: one
subscription to PUBLIC_URL/webhooks/shopify/SOURCE for each of customers/create, customers/update,
customers/delete (stream customers) and orders/create, orders/updated, orders/paid,
orders/cancelled, orders/delete (stream orders). It lists the subscriptions, creates the missing
ones, moves ours (an address ending in /webhooks/shopify/SOURCE) that point elsewhere, deletes
ours that are no longer needed, leaves subscriptions to other addresses alone and prints what
it did. Running it again changes nothing.

The public URL is http.public_url of the config, or --public-url; Shopify delivers to HTTPS
only. The privacy topics (customers/data_request, customers/redact, shop/redact) are not
subscriptions: set them in the app's configuration (the Dev Dashboard's compliance webhooks,
or shopify.app.toml) to PUBLIC_URL/webhooks/shopify/SOURCE.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.syncWebhooks(cmd.Context(), args[0], publicURL, dryRun, asJSON)
		},
	}
	cmd.Flags().StringVar(&publicURL, "public-url", "", "crmhub's public address (default http.public_url)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print what would change and change nothing")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the changes as JSON")
	return cmd
}

func (g *globals) syncWebhooks(ctx context.Context, sourceName, publicURL string, dryRun, asJSON bool) error {
	cfg, err := g.loadConfig()
	if err != nil {
		return err
	}
	src := cfg.Source(sourceName)
	if src == nil || src.Type != shopify.SourceType {
		return usagef("%q is not a shopify source in %s", sourceName, g.configPath)
	}
	if publicURL == "" {
		publicURL = cfg.HTTP.PublicURL
	}
	if publicURL == "" {
		return usagef("no public URL: set http.public_url in %s, or pass --public-url https://crm.example.com", g.configPath)
	}
	target, err := shopify.WebhookURL(publicURL, src.Name)
	if err != nil {
		return usageError{err}
	}
	app, err := g.open(ctx, false)
	if err != nil {
		return err
	}
	defer app.close()
	client, err := newShopifyClient(app.store, src, app.log)
	if err != nil {
		return usageError{err}
	}
	changes, err := shopify.SyncWebhooks(ctx, client, src.Name, target, shopify.WebhookTopics(src.Streams), dryRun)
	if asJSON {
		if jerr := json.NewEncoder(g.stdout).Encode(changes); jerr != nil {
			return jerr
		}
	} else {
		printWebhookChanges(g, src.Name, target, changes, dryRun)
	}
	if err != nil {
		return fmt.Errorf("sync webhooks of %s: %w", src.Name, err)
	}
	return nil
}

func printWebhookChanges(g *globals, source, target string, changes []shopify.SubscriptionChange, dryRun bool) {
	verb := map[string]string{shopify.SubscriptionKept: "kept", shopify.SubscriptionCreated: "created",
		shopify.SubscriptionUpdated: "moved", shopify.SubscriptionDeleted: "deleted", shopify.SubscriptionForeign: "left alone"}
	if dryRun {
		verb = map[string]string{shopify.SubscriptionKept: "keep", shopify.SubscriptionCreated: "create",
			shopify.SubscriptionUpdated: "move", shopify.SubscriptionDeleted: "delete", shopify.SubscriptionForeign: "leave alone"}
	}
	fprintf(g.stdout, "%s: webhooks to %s\n", source, target)
	tw := tabwriter.NewWriter(g.stdout, 2, 4, 2, ' ', 0)
	for _, c := range changes {
		switch c.Action {
		case shopify.SubscriptionUpdated:
			fprintf(tw, "  %s\t%s\t(was %s)\n", verb[c.Action], c.Topic, c.OldURI)
		case shopify.SubscriptionDeleted, shopify.SubscriptionForeign:
			fprintf(tw, "  %s\t%s\t(%s)\n", verb[c.Action], c.Topic, c.URI)
		default:
			fprintf(tw, "  %s\t%s\t\n", verb[c.Action], c.Topic)
		}
	}
	_ = tw.Flush()
	fprintf(g.stdout, "privacy topics (customers/data_request, customers/redact, shop/redact) are set in the app's "+
		"configuration, not subscribed to: point them at %s\n", target)
}

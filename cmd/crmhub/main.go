// Command crmhub is the customer-data sync hub: it pulls and receives
// customers, orders and events from Shopify, GA4, Meta, ERP webhooks and
// files, resolves them into one profile per person, enriches the profiles
// and pushes them back out.
//
// main only wires: it loads the configuration, builds the logger and the
// store, and hands over to the packages that do the work.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

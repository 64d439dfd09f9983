// Package crmhub holds the domain of the customer-data hub: the unified
// customer profile and the records that feed it (orders, events), the
// envelope every raw record travels in, merges, and the errors shared by all
// layers.
//
// The package does no I/O and imports nothing else from this module. Money is
// always a decimal and identifiers from other systems are always strings:
// Shopify and Meta ids exceed 2^53 and lose digits as float64.
package crmhub

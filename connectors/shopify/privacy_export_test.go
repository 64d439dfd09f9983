package shopify

import (
	"net/http"

	"github.com/crmhub/crmhub"
)

// DeliveryForTest builds what the receiver lands for a verified delivery
// of topic to source, so that tests can read landed records without an
// HTTP round trip.
func DeliveryForTest(source, topic, webhookID string, body []byte) (crmhub.Delivery, crmhub.Envelope) {
	h := http.Header{}
	h.Set(HeaderWebhookID, webhookID)
	return webhookSource{name: source}.delivery(h, topic, body)
}

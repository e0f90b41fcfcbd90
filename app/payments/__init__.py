"""The Stripe boundary: client factory, catalogue sync, checkout, fulfilment and webhooks."""

"""What tests share: builders, the Stripe fake, drivers of the app and its sandbox."""

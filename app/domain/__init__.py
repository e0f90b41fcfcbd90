"""Plain services: purchases, packs, users, spending, audit, timeline, reports, mail."""

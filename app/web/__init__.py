"""The web layer: blueprints and the plumbing every request shares."""

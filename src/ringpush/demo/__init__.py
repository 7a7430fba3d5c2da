"""``ringpush demo``: the whole call path on simulated phones, as a readable timeline."""

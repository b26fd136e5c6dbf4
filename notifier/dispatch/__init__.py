"""Moving alerts from the outbox to the providers: materialiser, claim loops, rate limits."""

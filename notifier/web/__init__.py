"""The HTTP side: API, webhooks, acknowledgement pages and the officers' dashboard."""

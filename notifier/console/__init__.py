"""The officers' console: HTML pages in the browser, signed in with an API token."""

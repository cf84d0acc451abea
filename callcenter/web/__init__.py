"""HTTP: the REST API, health, and the browser pages."""

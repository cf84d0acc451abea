"""Channel adapters: one package per outside protocol, each a Twisted service."""

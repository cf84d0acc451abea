"""Infrastructure every part uses: the clock, the reactor, logs, the service tree, /health,
configuration reload and the in-process event bus."""

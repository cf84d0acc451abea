"""The pure skill-based routing core: no I/O, no Twisted, no database; time is passed in."""

"""The contact-center integration server: wiring, customer record, events, web and command line."""

__version__ = "0.1.0"

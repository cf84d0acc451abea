"""The telephony channel adapter."""

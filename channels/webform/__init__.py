"""The webform channel adapter."""

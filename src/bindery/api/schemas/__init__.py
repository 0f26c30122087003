"""Schemas shared by API routes."""

"""Bindery: a self-hostable e-commerce integration hub."""

__version__ = "0.1.0"

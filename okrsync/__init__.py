"""okrsync: OKRs and delivery work in one picture, written back where people look."""

__version__ = "0.1.0"

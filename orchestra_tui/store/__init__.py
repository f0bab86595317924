"""Durable project state and its permanent history (files only; no knowledge of tasks beyond records)."""

from .store import CHECKPOINT_EVERY, Entry, Mutation, Store, entry_id

__all__ = ["CHECKPOINT_EVERY", "Entry", "Mutation", "Store", "entry_id"]

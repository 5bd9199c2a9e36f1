"""Attacks against a live server: what each costs it, and what a good client feels meanwhile."""

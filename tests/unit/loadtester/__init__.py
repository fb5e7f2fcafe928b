"""Unit tests of the load tester."""

"""Unit tests of the demo applications."""

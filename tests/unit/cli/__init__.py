"""Tests of command-line verbs that need no platform."""

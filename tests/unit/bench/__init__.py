"""Tests of the decision-quality benchmark on the simulated platform."""

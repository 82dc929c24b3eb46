"""Forced alignment of a clip's known text: word times and scores, behind one interface."""

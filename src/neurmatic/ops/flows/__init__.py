"""The ordered, checked procedures the commands call."""

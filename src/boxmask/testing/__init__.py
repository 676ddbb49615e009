"""Test helpers users can rely on too: synthetic answers in the real formats (and, with the
request layer, a local Gemini-protocol server)."""

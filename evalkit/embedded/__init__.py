"""Embedded CPU models (no network, no hub): a local llama.cpp chat server, Whisper, MiniLM and describers."""

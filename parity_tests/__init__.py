"""The parity harness: record, replay, generate, isolate, compare and report (roadmap: not built yet)."""

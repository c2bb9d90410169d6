"""The bottom layer: code every app may import, which imports no app."""

"""Thin typed wrappers over external programs and services; library errors become NeurmaticErrors here."""

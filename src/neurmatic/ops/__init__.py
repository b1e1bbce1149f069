"""The operations CLI: commands (argument parsing, confirmation, output) over flows (the procedures)."""

"""Runs the gateway's CLI as `python -m secure_mcp_gateway.cli ...` inside the image."""

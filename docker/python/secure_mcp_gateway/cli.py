"""`python -m secure_mcp_gateway.cli <command>`: the reference image's entry point.

It replaces this process with the `secure-mcp-gateway` binary and the same arguments, so the
documented `docker run --entrypoint python ... -m secure_mcp_gateway.cli generate-config` works.
"""

import os
import shutil
import sys


def main() -> None:
    exe = os.environ.get("SECURE_MCP_GATEWAY_BIN") or shutil.which("secure-mcp-gateway")
    if not exe:
        sys.stderr.write("secure-mcp-gateway: binary not found on PATH\n")
        sys.exit(127)
    os.execv(exe, [exe] + sys.argv[1:])


if __name__ == "__main__":
    main()

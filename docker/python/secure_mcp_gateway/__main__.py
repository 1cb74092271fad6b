from secure_mcp_gateway.cli import main

main()

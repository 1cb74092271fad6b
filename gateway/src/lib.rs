//! The Secure MCP Gateway (in progress).

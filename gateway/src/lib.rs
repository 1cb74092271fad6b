//! The Secure MCP Gateway.

pub mod config;

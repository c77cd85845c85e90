//! Test helpers: spawn a server, connect a client.

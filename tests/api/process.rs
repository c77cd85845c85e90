//! Tests of the `claimdesk` process itself: crash durability and shutdown.

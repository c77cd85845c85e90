//! Integration tests: a real server on 127.0.0.1:0 with a fresh data
//! directory, driven through the generated client. One test binary; each
//! file is a module.

mod access;
mod audit;
mod backends;
mod backup;
mod bench;
mod checklist;
mod claimreview;
mod conflicts;
mod crash_loop;
mod disk_full;
mod helpers;
mod intercept;
mod process;
mod replicas;

mod cli;
mod durability;
mod errors;
mod events;
mod faults;
mod grpc_web;
mod hostile;
mod idempotency;
mod layers;
mod lifecycle;
mod limits;
mod listing;
mod metrics;
mod model;
mod names;
mod queue;
mod restart;
mod service;
mod spin_up;
mod stored_formats;
mod testing;
mod tls;
mod watch;

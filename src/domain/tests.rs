//! Unit tests of the state machine and the labels.

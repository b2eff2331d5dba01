//! Test helpers for Rampart (dev-dependency only): recording upstream servers, raw HTTP clients, process harness.

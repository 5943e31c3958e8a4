//! One test binary for every end-to-end test (compile time matters on two cores).
#![expect(
    clippy::indexing_slicing,
    reason = "test code: reading serde_json::Value by key; a panic is a test failure"
)]

mod accounts;
mod authz;
mod backup;
mod browser;
mod catalog;
mod channels;
mod conformance;
mod consistency;
mod crash;
mod decoration;
mod delivery;
mod edge;
mod fulfilment;
mod library;
mod marketing;
mod members;
mod migrations;
mod money_bounds;
mod native;
mod notifications;
mod openapi;
mod orders;
mod pages;
mod plugin_events;
mod plugin_load;
mod plugin_operations;
mod plugin_quotas;
mod plugins;
mod relations;
mod screens;
mod scripts;
mod search;
mod sign_in_limits;
mod staff;
mod transfer;
mod uploads;

//! One test binary for every end-to-end test (compile time matters on two cores).

mod accounts;
mod authz;
mod backup;
mod conformance;
mod migrations;
mod openapi;
mod staff;

//! Pifa's kernel: accounts and roles, the catalogue, the order pipeline, and the hosts for
//! plugins, scripts and themes. See ARCHITECTURE.md for the map.

pub mod accounts;
pub mod announce;
pub mod app;
pub mod auth;
pub mod backup;
pub mod catalog;
pub mod channels;
pub mod cli;
pub mod clock;
pub mod config;
pub mod demo;
mod demo_catalogue;
mod demo_orders;
pub mod edge;
pub mod error;
pub mod http;
pub mod ids;
pub mod images;
pub mod members;
pub mod money;
pub mod native;
pub mod notify;
pub mod orders;
pub mod plugins;
pub mod quantity;
pub mod regions;
pub mod reviews;
pub mod scripts;
pub mod settings;
pub mod shop;
pub mod staff;
pub mod store;
pub mod text;
pub mod themes;
pub mod uploads;
pub mod watch;

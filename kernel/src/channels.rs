//! TEMPORARY placeholder until the channels branch merges.
use crate::notify::Channel;
pub struct Outgoing<'a> {
    pub id: i64,
    pub to: &'a str,
    pub template: &'a str,
    pub params: &'a serde_json::Value,
    pub body: &'a str,
}
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("{0}")]
    Transient(String),
    #[error("{0}")]
    Permanent(String),
}
pub struct Sent {
    pub provider_ref: String,
}
pub struct Providers {}
impl Providers {
    pub fn from_env() -> anyhow::Result<Providers> {
        Ok(Providers {})
    }
    pub fn none() -> Providers {
        Providers {}
    }
    pub fn has(&self, _channel: Channel) -> bool {
        false
    }
    pub async fn send(
        &self,
        _channel: Channel,
        _message: &Outgoing<'_>,
    ) -> Result<Sent, SendError> {
        Err(SendError::Permanent("none".into()))
    }
}

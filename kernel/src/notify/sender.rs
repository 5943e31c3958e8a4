//! Messages to their providers (K2). A sender claims a due message (`sending`, held until a
//! lease runs out), hands it to its channel's provider, and records what came of it: `sent`
//! with the provider's receipt; `failed` and due again after a back-off; `dead` when refused for
//! good or out of attempts. Nothing is lost: a message is stored before it is sent, and a
//! sender that dies mid-send leaves it `sending` until the lease runs out, when it is sent
//! again with the same id, which is its SMS `OutId`, so the provider can tell the resend.

use std::sync::Arc;

use sqlx::FromRow;
use tokio::task::JoinSet;

use super::{Channel, MessageState};
use crate::channels::{Outgoing, Providers, SendError, Sent};
use crate::native::{NativeAdapter, NativeAdapters, NativeMessage};
use crate::store::{Store, StoreResult, on_pool};

/// Messages claimed per round; they are sent side by side.
const ROUND: i64 = 32;
const ROUND_SIZE: usize = ROUND as usize;
/// Attempts before a message is given up (the last waits about an hour after the first).
pub const MAX_ATTEMPTS: i64 = 8;
/// How long a claimed message is held by its sender: past it, a sender that died is assumed
/// and another sends the message again. Longer than any provider call may take (each has its
/// own timeout well under this).
pub const LEASE_MS: i64 = 30_000;

/// The wait after `attempts` failed tries: 5 s, 10 s, 20 s … doubling, at most 30 minutes.
pub fn backoff_ms(attempts: i64) -> i64 {
    let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 20)).unwrap_or(0);
    5_000_i64
        .saturating_mul(2_i64.saturating_pow(doublings))
        .min(30 * 60_000)
}

#[derive(Debug, Clone, FromRow)]
struct DueMessage {
    id: i64,
    channel: String,
    recipient: String,
    template: String,
    params: String,
    body: String,
    state: String,
    attempts: i64,
}

/// Where a channel's messages go: a native adapter installed for it in `plugins.toml` (M6)
/// comes before the built-in provider.
enum Route {
    Native(Arc<NativeAdapter>),
    BuiltIn,
}

/// Whom a sender hands messages to.
#[derive(Clone)]
pub struct Senders {
    pub providers: Arc<Providers>,
    /// The native adapters installed now (the plugin host).
    pub natives: Arc<dyn NativeAdapters>,
}

impl Senders {
    fn route(&self, channel: Channel) -> Option<Route> {
        match self.natives.native_adapter(channel.as_str()) {
            Some(adapter) => Some(Route::Native(adapter)),
            None => self.providers.has(channel).then_some(Route::BuiltIn),
        }
    }

    async fn send(
        &self,
        route: Route,
        channel: Channel,
        message: &DueMessage,
    ) -> Result<Sent, SendError> {
        let params: serde_json::Value =
            serde_json::from_str(&message.params).unwrap_or(serde_json::Value::Null);
        match route {
            Route::BuiltIn => {
                self.providers
                    .send(
                        channel,
                        &Outgoing {
                            id: message.id,
                            to: &message.recipient,
                            template: &message.template,
                            params: &params,
                            body: &message.body,
                        },
                    )
                    .await
            }
            Route::Native(adapter) => {
                let native = NativeMessage {
                    id: message.id,
                    to: message.recipient.clone(),
                    template: message.template.clone(),
                    params: params.as_object().cloned().unwrap_or_default(),
                    body: message.body.clone(),
                };
                // A native call blocks (its own HTTP client): off the async threads.
                match tokio::task::spawn_blocking(move || adapter.send(&native)).await {
                    Ok(Ok(provider_ref)) => Ok(Sent { provider_ref }),
                    Ok(Err(failure)) if failure.transient => {
                        Err(SendError::Transient(failure.message))
                    }
                    Ok(Err(failure)) => Err(SendError::Permanent(failure.message)),
                    Err(join) => Err(SendError::Transient(format!(
                        "the native adapter's call failed: {join}"
                    ))),
                }
            }
        }
    }
}

/// One round: every message due now is sent (or marked as having no provider). Returns how
/// many due messages it read.
pub async fn run_once(
    store: &Store,
    senders: &Senders,
    clock: &crate::clock::Clock,
) -> StoreResult<usize> {
    let now_ms = clock.now_ms();
    let due = store.messages().due_messages(now_ms, ROUND).await?;
    let read = due.len();
    let mut sends = JoinSet::new();
    for message in due {
        // Inbox messages are delivered as they are stored; only these wait for a sender.
        let Some(channel) = Channel::from_name(&message.channel).filter(|c| *c != Channel::Inbox)
        else {
            continue;
        };
        let Some(route) = senders.route(channel) else {
            store
                .messages()
                .mark_no_provider(message.id, &message.state)
                .await?;
            continue;
        };
        if !store.messages().claim_message(&message, now_ms).await? {
            // Another sender took it.
            continue;
        }
        let (store, senders, clock) = (store.clone(), senders.clone(), clock.clone());
        sends.spawn(async move {
            let outcome = senders.send(route, channel, &message).await;
            let attempts = message.attempts + 1;
            let finished = store
                .messages().finish_message(message.id, attempts, &outcome, clock.now_ms())
                .await;
            match (&outcome, finished) {
                (_, Err(error)) => {
                    tracing::error!(message.id = message.id, %error, "a send's outcome was not recorded; the message will be sent again after its lease");
                }
                (Ok(_), Ok(())) => {
                    tracing::debug!(message.id = message.id, channel = message.channel, "message sent");
                }
                (Err(error), Ok(())) => {
                    // The recipient's address is personal data: the log names the message.
                    tracing::warn!(message.id = message.id, channel = message.channel, attempts, %error, "message not sent");
                }
            }
        });
    }
    while sends.join_next().await.is_some() {}
    Ok(read)
}

/// Sends what is due every 200 ms, and at once again after a full round (a broadcast's
/// thousands go out back to back, not 32 per tick).
pub async fn send_loop(store: Store, senders: Senders, clock: crate::clock::Clock) {
    super::in_rounds("sending messages failed", ROUND_SIZE, || {
        run_once(&store, &senders, &clock)
    })
    .await;
}

impl super::MessageStore<'_> {
    /// Messages to send now: new, failed and due again, or held by a sender whose lease ran out.
    async fn due_messages(self, now_ms: i64, limit: i64) -> StoreResult<Vec<DueMessage>> {
        Ok(on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id, channel, recipient, template, params, body, state, attempts FROM outbox_messages
                 WHERE state IN ('pending', 'failed', 'sending') AND (next_attempt_at IS NULL OR next_attempt_at <= $1)
                 ORDER BY id LIMIT $2",
            )
            .bind(now_ms)
            .bind(limit)
            .fetch_all(pool)
            .await
        })?)
    }

    async fn mark_no_provider(self, id: i64, state: &str) -> StoreResult<()> {
        on_pool!(self, |pool| {
            sqlx::query("UPDATE outbox_messages SET state = 'no_provider', next_attempt_at = NULL WHERE id = $1 AND state = $2")
                .bind(id)
                .bind(state)
                .execute(pool)
                .await
                .map(drop)
        })?;
        Ok(())
    }

    /// Takes `message` for one attempt, if no other sender took it since it was read.
    async fn claim_message(self, message: &DueMessage, now_ms: i64) -> StoreResult<bool> {
        Ok(on_pool!(self, |pool| {
            sqlx::query(
                "UPDATE outbox_messages SET state = 'sending', attempts = attempts + 1, next_attempt_at = $1
                 WHERE id = $2 AND state = $3 AND attempts = $4",
            )
            .bind(now_ms + LEASE_MS)
            .bind(message.id)
            .bind(message.state.as_str())
            .bind(message.attempts)
            .execute(pool)
            .await
            .map(|done| done.rows_affected() == 1)
        })?)
    }

    /// Records an attempt's outcome, if the attempt still holds the message (a sender whose
    /// lease ran out and was overtaken records nothing).
    async fn finish_message(
        self,
        id: i64,
        attempts: i64,
        outcome: &Result<Sent, SendError>,
        now_ms: i64,
    ) -> StoreResult<()> {
        let (state, next, error, receipt, sent_at) = match outcome {
            Ok(sent) => (
                MessageState::Sent,
                None,
                None,
                Some(sent.provider_ref.clone()),
                Some(now_ms),
            ),
            Err(SendError::Transient(error)) if attempts < MAX_ATTEMPTS => (
                MessageState::Failed,
                Some(now_ms + backoff_ms(attempts)),
                Some(error.clone()),
                None,
                None,
            ),
            Err(SendError::Transient(error) | SendError::Permanent(error)) => {
                (MessageState::Dead, None, Some(error.clone()), None, None)
            }
        };
        on_pool!(self, |pool| {
            sqlx::query(
                "UPDATE outbox_messages SET state = $1, next_attempt_at = $2, last_error = $3, provider_ref = COALESCE($4, provider_ref), sent_at = $5
                 WHERE id = $6 AND state = 'sending' AND attempts = $7",
            )
            .bind(state.as_str())
            .bind(next)
            .bind(error.clone())
            .bind(receipt.clone())
            .bind(sent_at)
            .bind(id)
            .bind(attempts)
            .execute(pool)
            .await
            .map(drop)
        })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_off_doubles_and_is_capped() {
        assert_eq!(backoff_ms(1), 5_000);
        assert_eq!(backoff_ms(2), 10_000);
        assert_eq!(backoff_ms(4), 40_000);
        assert_eq!(backoff_ms(50), 30 * 60_000);
    }
}

//! 消息: my inbox through the inbox API's handlers (`notify::inbox`, `notify::mark_all_read`);
//! the unread count every page's frame carries is `notify::unread`'s.

use axum::extract::State;

use super::{Page, Visit};
use crate::edge::extract::Query;
use crate::error::ApiError;
use crate::notify::{self, InboxQuery};
use crate::shop::Shop;
use crate::themes::views::{InboxView, MAX_LISTED};

async fn inbox_view(shop: &Shop, visit: &Visit) -> Result<InboxView, ApiError> {
    let actor = visit.actor()?;
    let query = InboxQuery {
        limit: i64::try_from(MAX_LISTED).ok(),
        ..InboxQuery::default()
    };
    let (messages, unread) = tokio::join!(
        notify::inbox(State(shop.clone()), actor.clone(), Query(query)),
        notify::unread(State(shop.clone()), actor)
    );
    Ok(InboxView {
        messages: messages?.0,
        unread: unread?.0.unread,
    })
}

/// `GET /me/messages`: my messages, the unread ones marked.
pub async fn show(State(shop): State<Shop>, visit: Visit) -> Page {
    let view = inbox_view(&shop, &visit).await;
    visit.show(view)
}

/// `POST /me/messages/read`: every message marked read, back to the inbox.
pub async fn read_all(State(shop): State<Shop>, visit: Visit) -> Page {
    let done = async { notify::mark_all_read(State(shop.clone()), visit.actor()?).await }.await;
    match done {
        Ok(_) => visit.redirect("/me/messages?notice=inbox_read"),
        Err(error) => visit.show::<InboxView>(Err(error)),
    }
}

//! Staff's customers on the phone. 我的客户: a manager's or promoter's customers as the
//! members API scopes them, with his invite code and QR code and his figures. 添加会员: the verifier adds a customer at his store's
//! counter through `members::relations::add_member` (B5); the customer signs in with an SMS
//! code to his phone and completes his profile himself.

use axum::body::Bytes;
use axum::extract::State;

use super::{Page, Visit};
use crate::accounts::permissions::Permission;
use crate::accounts::sessions::ClientInfo;
use crate::edge::extract::Query;
use crate::edge::json::ApiJson;
use crate::error::ApiError;
use crate::members::relations::{self, StoreMember};
use crate::members::review::{self, MemberQuery};
use crate::orders::queries::FiguresQuery;
use crate::shop::Shop;
use crate::themes::views::{AddMemberView, AddedMember, CustomersView, FormError, MAX_LISTED};

/// `GET /members/new`: the form, for those who add members (the permission the API asks).
pub async fn add_form(visit: Visit) -> Page {
    let view = visit
        .actor()
        .and_then(|actor| actor.require(Permission::AddMembers))
        .map(|()| AddMemberView {
            typed: Default::default(),
            added: None,
            error: None,
        });
    visit.show(view)
}

/// `POST /members/new` (`phone`, `company_name`, `contact_name`): the member added, shown with
/// an empty form for the next; a refusal shows the form again as typed.
pub async fn add(State(shop): State<Shop>, visit: Visit, client: ClientInfo, body: Bytes) -> Page {
    let mut typed: std::collections::BTreeMap<String, String> =
        form_urlencoded::parse(&body).into_owned().collect();
    typed.remove(crate::edge::json::FORM_TOKEN_FIELD);
    let field = |name: &str| typed.get(name).cloned().unwrap_or_default();
    let input = StoreMember {
        phone: field("phone"),
        company_name: field("company_name"),
        contact_name: field("contact_name"),
    };
    let done = match visit.actor() {
        Ok(actor) => relations::add_member(State(shop), actor, client, ApiJson(input)).await,
        Err(error) => Err(error),
    };
    let done = done.map(|(_, axum::Json(member))| AddMemberView {
        typed: Default::default(),
        added: Some(AddedMember {
            name: member.name,
            company_name: member.company_name,
            phone: member.phone,
        }),
        error: None,
    });
    visit.show_form(done, |error| AddMemberView {
        error: Some(FormError::of("add_member", error)),
        typed,
        added: None,
    })
}

/// `GET /customers`: 我的客户 — his customers newest first (`review::list`: a manager his
/// bound and regional members, a promoter his own), how many wait for review, his invite
/// (`relations::my_invite`), how many orders his scope holds (`queries::counts`) and his
/// figures over `?days=` (1, 7 or 30; `queries::figures`).
pub async fn list(
    State(shop): State<Shop>,
    visit: Visit,
    window: Result<Query<FiguresQuery>, ApiError>,
) -> Page {
    let view = async {
        let actor = visit.actor()?;
        actor.require(Permission::Invite)?;
        let Query(window) = window?;
        let page = |state, limit| MemberQuery {
            state,
            limit: Some(limit),
            ..MemberQuery::default()
        };
        let listed = i64::try_from(MAX_LISTED).unwrap_or(20);
        let (all, waiting, invite, counts) = tokio::join!(
            review::list(
                State(shop.clone()),
                actor.clone(),
                Query(page(None, listed))
            ),
            // Only the count of those waiting is shown: one row carries it.
            review::list(
                State(shop.clone()),
                actor.clone(),
                Query(page(Some(crate::accounts::MemberState::ProfileComplete), 1))
            ),
            relations::my_invite(State(shop.clone()), actor.clone()),
            crate::orders::queries::counts(State(shop.clone()), actor.clone()),
        );
        let figures =
            crate::orders::queries::figures(State(shop.clone()), actor.clone(), Query(window))
                .await?
                .0;
        let all = all?;
        Ok(CustomersView {
            invite: invite?.0,
            total: all.total,
            members: all.items,
            waiting: waiting?.total,
            order_count: counts?
                .0
                .iter()
                .filter(|c| c.status != crate::orders::OrderStatus::Closed)
                .map(|c| c.count)
                .sum(),
            figures,
        })
    }
    .await;
    visit.show(view)
}

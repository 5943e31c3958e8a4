//! Staff's customers on the phone. 添加会员: the verifier adds a customer at his store's
//! counter through `members::relations::add_member` (B5); the customer signs in with an SMS
//! code to his phone and completes his profile himself.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;

use super::{Page, Visit};
use crate::accounts::permissions::Permission;
use crate::accounts::sessions::ClientInfo;
use crate::edge::json::ApiJson;
use crate::members::relations::{self, StoreMember};
use crate::shop::Shop;
use crate::themes::views::{AddMemberView, AddedMember, FormError};

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
    match done {
        Ok((_, axum::Json(member))) => visit.show(Ok(AddMemberView {
            typed: Default::default(),
            added: Some(AddedMember {
                name: member.name,
                company_name: member.company_name,
                phone: member.phone,
            }),
            error: None,
        })),
        // Not signed in, or not one who adds members: the page's own refusal.
        Err(error)
            if matches!(
                error.status,
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
            ) =>
        {
            visit.show::<AddMemberView>(Err(error))
        }
        Err(error) => visit.show_with(
            error.status,
            &AddMemberView {
                error: Some(FormError::of("add_member", &error)),
                typed,
                added: None,
            },
        ),
    }
}

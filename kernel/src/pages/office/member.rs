//! One member in the back office (`/admin/members/{id}`): his profile, level, region, who
//! serves him and since when, his tags and credit, read through the members API with the
//! caller's scope; those who review members change his level (`review::set_level`), tags
//! (`relations::set_tags`, a new tag through `relations::create_tag`) and credit
//! (`relations::set_credit`) here.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::State;

use super::menu_for;
use crate::accounts::permissions::Actor;
use crate::accounts::sessions::ClientInfo;
use crate::edge::extract::Path;
use crate::edge::json::ApiJson;
use crate::error::ApiError;
use crate::members::relations::{self, Credit, CreditTerms, TagIds, TagInput};
use crate::members::review::{self, LevelChoice};
use crate::pages::fields::Fields;
use crate::pages::{Page, Visit};
use crate::shop::Shop;
use crate::themes::office::OfficeMemberView;
use crate::themes::office::setup::Choice;
use crate::themes::views::FormError;

async fn member_view(
    shop: &Shop,
    actor: Actor,
    id: i64,
    error: Option<FormError>,
    typed: BTreeMap<String, String>,
) -> Result<OfficeMemberView, ApiError> {
    let menu = menu_for(&actor, "members")?;
    let state = || State(shop.clone());
    let member = review::get(state(), actor.clone(), Path(id)).await?.0;
    let history = relations::history(state(), actor.clone(), Path(id))
        .await?
        .0;
    let may_review = crate::members::review::may_review(&actor);
    let (tags, member_tags) = if may_review {
        (
            relations::list_tags(state(), actor.clone()).await?.0,
            shop.store.members().member_tags(id).await?,
        )
    } else {
        (Vec::new(), Vec::new())
    };
    let mut mentioned: Vec<i64> = [member.manager_id, member.promoter_id]
        .into_iter()
        .flatten()
        .chain(
            history
                .iter()
                .flat_map(|line| {
                    [
                        line.change.from_user,
                        line.change.to_user,
                        line.change.by_user,
                    ]
                })
                .flatten(),
        )
        .collect();
    mentioned.sort_unstable();
    mentioned.dedup();
    let mut people = Vec::new();
    for person in mentioned {
        if let Some(user) = shop.store.accounts().user_by_id(person).await? {
            people.push(Choice {
                id: user.id,
                name: user.name.clone(),
            });
        }
    }
    Ok(OfficeMemberView {
        menu,
        member,
        levels: shop.store.members().list_levels().await?,
        regions: shop.store.regions().list_regions().await?,
        tags,
        member_tags,
        history,
        people,
        may_review,
        error,
        typed,
    })
}

/// `GET /admin/members/{id}`: one member in the caller's scope.
pub async fn member(
    State(shop): State<Shop>,
    visit: Visit,
    path: Result<Path<i64>, ApiError>,
) -> Page {
    let view = async {
        let actor = visit.actor()?;
        let id = crate::pages::goods::id_of(path)?;
        member_view(&shop, actor, id, None, BTreeMap::new()).await
    }
    .await;
    visit.show(view)
}

/// The forms on a member's page, as their paths name them.
pub const MEMBER_FORMS: [&str; 3] = ["level", "tags", "credit"];

/// `POST /admin/members/{id}/level` (`level_id`), `…/tags` (`tag_ids`, and `new_tag` to
/// make one and give it him), `…/credit` (`terms`, `limit` in yuan): back to his page, or
/// his page with the refusal by that form and what was typed.
pub async fn change_member(
    shop: Shop,
    visit: Visit,
    client: ClientInfo,
    id: i64,
    action: &str,
    body: Bytes,
) -> Page {
    let form = Fields::parse(&body);
    let state = || State(shop.clone());
    let outcome = async {
        let actor = visit.actor()?;
        menu_for(&actor, "members")?;
        let name = MEMBER_FORMS
            .into_iter()
            .find(|form| *form == action)
            .ok_or_else(ApiError::not_found)?;
        let done = async {
            match name {
                "level" => {
                    let level_id = form.integer("level_id")?;
                    let choice = ApiJson(LevelChoice { level_id });
                    review::set_level(state(), actor.clone(), client, Path(id), choice)
                        .await
                        .map(drop)
                }
                "tags" => {
                    let mut tag_ids = form.integers("tag_ids");
                    let new_tag = form.text("new_tag");
                    if !new_tag.is_empty() {
                        let name = new_tag.to_owned();
                        let (_, tag) = relations::create_tag(
                            state(),
                            actor.clone(),
                            ApiJson(TagInput { name }),
                        )
                        .await?;
                        tag_ids.push(tag.id);
                    }
                    relations::set_tags(
                        state(),
                        actor.clone(),
                        Path(id),
                        ApiJson(TagIds { tag_ids }),
                    )
                    .await
                    .map(drop)
                }
                _ => {
                    let credit = Credit {
                        terms: match form.text("terms") {
                            "monthly" => CreditTerms::Monthly,
                            _ => CreditTerms::None,
                        },
                        limit_fen: form.optional_yuan("limit")?.unwrap_or(0),
                    };
                    relations::set_credit(state(), actor.clone(), client, Path(id), ApiJson(credit))
                        .await
                        .map(drop)
                }
            }
        }
        .await;
        Ok((actor, name, done))
    }
    .await;
    match outcome {
        Err(error) => visit.show::<OfficeMemberView>(Err(error)),
        Ok((_, name, Ok(()))) => {
            visit.redirect(&format!("/admin/members/{id}?notice=member_saved#{name}"))
        }
        Ok((actor, name, Err(error))) => {
            let refused = FormError::of(name, &error);
            match member_view(&shop, actor, id, Some(refused), form.typed()).await {
                Ok(view) => visit.show_with(error.status, &view),
                Err(_) => visit.show::<OfficeMemberView>(Err(error)),
            }
        }
    }
}

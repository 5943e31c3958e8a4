//! Staff's customers on the phone. 我的客户: a manager's or promoter's customers as the
//! members API scopes them, with his invite code and QR code and his figures. 添加会员: the verifier adds a customer at his store's
//! counter through `members::relations::add_member` (B5); the customer signs in with an SMS
//! code to his phone and completes his profile himself.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;

use super::{Page, Visit};
use crate::accounts::caller::MaybeActor;
use crate::accounts::permissions::{Actor, Permission};
use crate::accounts::sessions::ClientInfo;
use crate::edge::extract::{Path, Query};
use crate::edge::json::ApiJson;
use crate::error::ApiError;
use crate::ids::SkuId;
use crate::members::relations::{self, StoreMember};
use crate::members::review::{self, MemberQuery};
use crate::orders::DeliveryMethod;
use crate::orders::checkout::{self, QuoteInput};
use crate::orders::pipeline::Pipeline;
use crate::orders::queries::FiguresQuery;
use crate::orders::quote::LineRequest;
use crate::pages::checkout::Choices;
use crate::pages::fields::Fields;
use crate::shop::Shop;
use crate::themes::views::{
    AddMemberView, AddedMember, CustomersView, FormError, MAX_LISTED, ProxyGoods, ProxyOrderView,
    QuoteTotals,
};

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
            may_review: review::may_review(&actor),
        })
    }
    .await;
    visit.show(view)
}

/// The draft of an order on a customer's behalf, as its page carries it in its fields: the
/// lines (`l_<sku>` quantities, `add_<sku>` added from the search), the words searched, the
/// delivery method and the address.
struct Draft {
    lines: Vec<LineRequest>,
    q: String,
    delivery: String,
    address_id: Option<i64>,
}

/// The most lines an order on someone's behalf is drafted with on the phone.
const MAX_DRAFT_LINES: usize = 100;

impl Draft {
    fn of(form: &Fields) -> Result<Draft, ApiError> {
        let mut lines: Vec<LineRequest> = Vec::new();
        for prefix in ["l_", "add_"] {
            let quantities = form.prefixed(prefix);
            for (sku, typed) in quantities {
                let Ok(sku_id) = sku.parse::<i64>() else {
                    continue;
                };
                if typed.is_empty() {
                    continue;
                }
                let qty = crate::pages::goods::qty_of(typed).map_err(|_| {
                    ApiError::invalid_field(
                        "invalid_quantity",
                        &format!("{prefix}{sku}"),
                        format!("{prefix}{sku}: 请填写整数数量 (a whole number)"),
                    )
                })?;
                match lines.iter_mut().find(|l| l.sku_id.0 == sku_id) {
                    Some(line) => line.qty = line.qty.saturating_add(qty),
                    None => lines.push(LineRequest {
                        sku_id: SkuId(sku_id),
                        qty,
                    }),
                }
            }
        }
        lines.retain(|line| line.qty > 0);
        lines.truncate(MAX_DRAFT_LINES);
        Ok(Draft {
            lines,
            q: form.text("q").to_owned(),
            delivery: form.text("delivery").to_owned(),
            address_id: form.optional_integer("address_id")?,
        })
    }
}

/// The page of an order for customer `id` as `draft` describes it.
async fn proxy_view(
    shop: &Shop,
    pipeline: &Pipeline,
    visit: &Visit,
    actor: &Actor,
    id: i64,
    draft: &Draft,
) -> Result<ProxyOrderView, ApiError> {
    actor.require(Permission::OrderOnBehalf)?;
    let customer = review::get(State(shop.clone()), actor.clone(), Path(id))
        .await?
        .0;
    let addresses =
        crate::members::addresses::of_member(State(shop.clone()), actor.clone(), Path(id))
            .await?
            .0;
    let results = if draft.q.is_empty() {
        Vec::new()
    } else {
        crate::catalog::handlers::search(
            State(shop.clone()),
            MaybeActor(Some(actor.clone())),
            Query(crate::catalog::handlers::SearchText { q: draft.q.clone() }),
            Query(crate::catalog::handlers::ProductQuery {
                limit: Some(20),
                ..Default::default()
            }),
        )
        .await?
        .items
        .into_iter()
        .flat_map(|product| {
            let unit = product.unit.clone();
            let name = product.name.clone();
            product.skus.into_iter().map(move |sku| ProxyGoods {
                sku_id: sku.id,
                name: name.clone(),
                model: sku.model,
                spec: sku.spec,
                unit_label: unit.label.clone(),
                moq: unit.unit.inner_qty,
                item_unit: unit.unit.item_unit.clone(),
            })
        })
        .collect()
    };
    let choices = Choices::of(
        visit,
        Some(draft.delivery.as_str()),
        &addresses,
        draft.address_id,
    )?;
    let (method, address_id) = (choices.method, choices.address_id);
    let (lines, quote, quote_error) = if draft.lines.is_empty() {
        (Vec::new(), None, None)
    } else {
        let quoted = checkout::quote(
            State(shop.clone()),
            State(pipeline.clone()),
            actor.clone(),
            ApiJson(QuoteInput {
                member_id: Some(id),
                lines: Some(draft.lines.clone()),
                delivery_method: method,
                address_id: address_id.filter(|_| method != DeliveryMethod::Pickup),
                plugin_options: Default::default(),
            }),
        )
        .await;
        match quoted {
            Ok(axum::Json(q)) => {
                let totals = QuoteTotals::of(&q);
                (q.lines, Some(totals), None)
            }
            // A draft the page can fix (a quantity off the pack, an address to add).
            Err(e) if e.status.is_client_error() && e.status != StatusCode::FORBIDDEN => {
                (Vec::new(), None, Some(e.code.to_owned()))
            }
            Err(e) => return Err(e),
        }
    };
    Ok(ProxyOrderView {
        customer,
        q: draft.q.clone(),
        results,
        lines,
        quote,
        quote_error,
        delivery_methods: choices.delivery_methods,
        delivery: method.as_str(),
        needs_address: method != DeliveryMethod::Pickup,
        addresses,
        address_id,
        payment_methods: choices.payment_methods,
        idempotency_key: crate::pages::checkout::new_key(),
        error: None,
        remark: String::new(),
        po_number: String::new(),
    })
}

/// `GET /customers/{id}/order`: 代客下单 — goods searched (`q`), lines kept and changed in the
/// page's fields, priced as the customer pays them (`checkout::quote` with his id).
pub async fn proxy_order(
    State(shop): State<Shop>,
    State(pipeline): State<Pipeline>,
    visit: Visit,
    path: Result<Path<i64>, ApiError>,
    RawQuery(query): RawQuery,
) -> Page {
    let view = async {
        let actor = visit.actor()?;
        let id = crate::pages::goods::id_of(path)?;
        let form = Fields::from_pairs(
            form_urlencoded::parse(query.unwrap_or_default().as_bytes()).into_owned(),
        );
        let draft = Draft::of(&form)?;
        proxy_view(&shop, &pipeline, &visit, &actor, id, &draft).await
    }
    .await;
    visit.show(view)
}

/// `POST /customers/{id}/order`: places the drafted order for him through `checkout::place`
/// (`member_id`: his manager or promoter, D4) with the page's key, then opens it; a refusal
/// shows the draft again with its code and what was typed.
pub async fn place_proxy_order(
    State(shop): State<Shop>,
    State(pipeline): State<Pipeline>,
    visit: Visit,
    path: Result<Path<i64>, ApiError>,
    body: Bytes,
) -> Page {
    let form = Fields::parse(&body);
    let outcome = async {
        let actor = visit.actor()?;
        let id = crate::pages::goods::id_of(path)?;
        let draft = Draft::of(&form)?;
        let delivery = form.text("delivery");
        let input = serde_json::json!({
            "member_id": id,
            "lines": draft.lines,
            "delivery_method": delivery,
            "payment_method": form.text("payment_method"),
            "address_id": draft.address_id.filter(|_| delivery != DeliveryMethod::Pickup.as_str()),
            "remark": form.text("remark"),
            "po_number": form.text("po_number"),
        });
        let placed = crate::pages::checkout::place_order(
            &shop,
            &pipeline,
            &actor,
            form.text("idempotency_key"),
            &input,
        )
        .await;
        Ok((actor, id, draft, placed))
    }
    .await;
    match outcome {
        Err(error) => visit.show::<ProxyOrderView>(Err(error)),
        Ok((_, _, _, Ok(order))) => visit.redirect(&format!("/orders/{order}?notice=proxy_placed")),
        Ok((actor, id, draft, Err(error)))
            if error.status.is_client_error() && error.status != StatusCode::FORBIDDEN =>
        {
            match proxy_view(&shop, &pipeline, &visit, &actor, id, &draft).await {
                Ok(view) => visit.show_with(
                    error.status,
                    &ProxyOrderView {
                        error: Some(error.code.to_owned()),
                        remark: form.text("remark").to_owned(),
                        po_number: form.text("po_number").to_owned(),
                        // The same intended order: a second tap after fixing it is still one.
                        idempotency_key: form.text("idempotency_key").to_owned(),
                        ..view
                    },
                ),
                Err(other) => visit.show::<ProxyOrderView>(Err(other)),
            }
        }
        Ok((_, _, _, Err(error))) => visit.show::<ProxyOrderView>(Err(error)),
    }
}

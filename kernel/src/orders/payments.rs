//! Money for an order (F1): the member's transfer receipts, and staff's marks of money
//! received (with a proof picture or a remark). Payment comes after confirmation, so the price
//! is fixed when it is paid; a pay-first order paid in full moves on to dispatch, and an order
//! already received completes, both through the state machine.

use crate::edge::extract::Multipart;
use crate::edge::extract::Path;
use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::ToSchema;

use super::OrderStatus;
use super::lifecycle::scoped_order;
use super::machine::{
    Action, Move, MoveError, PAID_IN_FULL, invalid_transition, push_event, push_note, write_move,
};
use super::record::{OrderRecord, OrderView};
use crate::accounts::permissions::{Actor, Permission};
use crate::edge::json::ApiJson;
use crate::error::{ApiError, ApiResult};
use crate::ids::{MemberId, OrderId};
use crate::images::{StagedImage, UploadKind, stage_image};
use crate::money::{Fen, parse_fen};
use crate::shop::Shop;
use crate::store::batch::{Batch, RunBatch, args};
use crate::store::in_tx;

/// What a payment is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PaymentKind {
    /// Staff's mark of money received: it counts towards what is paid.
    Payment,
    /// The member's picture of a transfer, for staff to check: it counts for nothing yet.
    Receipt,
}

impl PaymentKind {
    fn as_str(self) -> &'static str {
        match self {
            PaymentKind::Payment => "payment",
            PaymentKind::Receipt => "receipt",
        }
    }
}

/// A payment record to write.
#[derive(Clone, Copy)]
pub(crate) struct PaymentEntry<'a> {
    pub(crate) kind: PaymentKind,
    pub(crate) amount_fen: Fen,
    pub(crate) proof: Option<&'a StagedImage>,
    pub(crate) remark: &'a str,
    pub(crate) actor_id: i64,
}

impl super::OrderStore<'_> {
    /// Records a payment for `order` and what follows from it (see the module). Refused
    /// (`false`) when the order is closed; `ChangedMeanwhile("amount_fen")` when a concurrent
    /// payment left less owed than this one.
    pub(crate) async fn record_payment(
        self,
        order: &OrderRecord,
        entry: &PaymentEntry<'_>,
        now_ms: i64,
    ) -> Result<bool, MoveError> {
        let PaymentEntry {
            kind,
            amount_fen,
            proof,
            remark,
            actor_id,
        } = *entry;
        in_tx!(self, |tx| {
            async {
                let is_payment = kind == PaymentKind::Payment;
                let mut update = Batch::default();
                update.push(
                    "UPDATE orders SET paid_fen = paid_fen + $2, paid_at = CASE WHEN $3 THEN $4 ELSE paid_at END, updated_at = $4
                     WHERE id = $1 AND status <> 'closed' AND paid_fen + $2 <= total_fen RETURNING id",
                    args![
                        order.id,
                        if is_payment { amount_fen } else { Fen::ZERO },
                        is_payment,
                        now_ms,
                    ],
                );
                let updated: Vec<(i64,)> = tx.fetch_batch(update).await?;
                if updated.is_empty() {
                    // Closed meanwhile, or a concurrent payment left less owed than this one.
                    let mut status = Batch::default();
                    status.push("SELECT status FROM orders WHERE id = $1", args![order.id]);
                    let status: Vec<(String,)> = tx.fetch_batch(status).await?;
                    return match status.first() {
                        Some((status,)) if status != OrderStatus::Closed.as_str() => {
                            Err(MoveError::ChangedMeanwhile("amount_fen"))
                        }
                        _ => Ok(false),
                    };
                }
                let mut batch = Batch::default();
                if let Some(image) = proof {
                    image.push_row(&mut batch, order.member_id.get(), now_ms);
                }
                batch.push(
                    "INSERT INTO order_payments (order_id, kind, amount_fen, upload_key, remark, actor_id, at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    args![
                        order.id,
                        kind.as_str(),
                        amount_fen,
                        proof.map(|i| i.key.clone()),
                        remark,
                        actor_id,
                        now_ms,
                    ],
                );
                tx.execute_batch(batch).await?;
                if is_payment {
                    let paid = Move::new(
                        Action::Paid,
                        OrderStatus::PendingPayment,
                        OrderStatus::AwaitingDispatch,
                        now_ms,
                    )
                    .by(Some(actor_id), remark)
                    .only_if(PAID_IN_FULL);
                    let moved_on = order.status == OrderStatus::PendingPayment
                        && write_move(&mut *tx, order, &paid).await?.is_some();
                    if !moved_on {
                        // Paid in part, or after the order moved on: an entry of its own.
                        let mut batch = Batch::default();
                        push_note(&mut batch, order, Action::Paid, Some(actor_id), remark, now_ms);
                        push_event(&mut batch, "order.paid", order, now_ms);
                        tx.execute_batch(batch).await?;
                    }
                    if order.status == OrderStatus::Received {
                        // E9: received and now paid in full is completed.
                        let complete = Move::new(
                            Action::Completed,
                            OrderStatus::Received,
                            OrderStatus::Completed,
                            now_ms,
                        )
                        .by(None, "已收货且已付清 (received and paid in full)")
                        .only_if(PAID_IN_FULL);
                        write_move(&mut *tx, order, &complete).await?;
                    }
                } else {
                    let mut batch = Batch::default();
                    push_note(
                        &mut batch,
                        order,
                        Action::ReceiptUploaded,
                        Some(actor_id),
                        remark,
                        now_ms,
                    );
                    tx.execute_batch(batch).await?;
                }
                Ok::<_, MoveError>(true)
            }
            .await
        })
    }
}

/// Reads a payment form: `amount_fen`, `remark` and an optional `proof` picture.
/// A payment as staff send it: JSON when there is no picture (`{"amount_fen", "remark"}`), or
/// the multipart form with a `proof`.
pub enum PaymentBody {
    Json(PaymentNote),
    Form(Multipart),
}

/// A payment without a picture.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentNote {
    /// What was received, in fen.
    pub amount_fen: i64,
    /// How it was received (e.g. 现金，张师傅代收).
    #[serde(default)]
    pub remark: String,
}

impl<S: Send + Sync> axum::extract::FromRequest<S> for PaymentBody {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> ApiResult<PaymentBody> {
        let multipart = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("multipart/form-data"));
        if multipart {
            return Multipart::from_request(req, state)
                .await
                .map(PaymentBody::Form);
        }
        ApiJson::<PaymentNote>::from_request(req, state)
            .await
            .map(|ApiJson(note)| PaymentBody::Json(note))
    }
}

async fn payment_form(
    app: &Shop,
    body: PaymentBody,
) -> ApiResult<(Option<i64>, String, Option<StagedImage>)> {
    let mut form = match body {
        PaymentBody::Json(note) => {
            let amount = parse_fen(note.amount_fen, "amount_fen")?;
            let remark = crate::accounts::parse_text(&note.remark, "remark", 200)?;
            return Ok((Some(amount), remark, None));
        }
        PaymentBody::Form(form) => form,
    };
    let mut amount = None;
    let mut remark = String::new();
    let mut proof = None;
    while let Some(field) = form.next_field().await? {
        let name = field.name().unwrap_or("").to_owned();
        match name.as_str() {
            "amount_fen" => {
                let text = crate::edge::json::form_text(field).await?;
                amount = Some(crate::money::parse_fen_text(&text, "amount_fen")?);
            }
            "remark" => remark = crate::edge::json::form_text(field).await?.trim().to_owned(),
            "proof" => {
                if let Some(bytes) = crate::edge::json::form_file(field).await? {
                    proof = Some(
                        stage_image(
                            &app.config.data_dir,
                            UploadKind::PaymentProof,
                            bytes,
                            "proof",
                        )
                        .await?,
                    );
                }
            }
            other => crate::edge::json::unknown_form_field(other)?,
        }
    }
    let remark = crate::accounts::parse_text(&remark, "remark", 200)?;
    Ok((amount, remark, proof))
}

/// The form of `POST /orders/{id}/receipts` (multipart/form-data).
#[derive(ToSchema)]
#[expect(
    dead_code,
    reason = "documents the multipart form for the OpenAPI document"
)]
pub struct ReceiptForm {
    /// A picture of the transfer (JPEG, PNG or WebP, at most 8 MB).
    #[schema(value_type = String, format = Binary)]
    proof: Vec<u8>,
    /// What was transferred, in fen.
    amount_fen: Option<i64>,
    remark: Option<String>,
}

/// Upload a transfer receipt for my order (F1): a picture of the bank, WeChat or Alipay
/// transfer, for staff to check before marking it paid.
#[utoipa::path(post, path = "/orders/{id}/receipts", tag = "orders", params(("id" = i64, Path)),
    request_body(content = ReceiptForm, content_type = "multipart/form-data"),
    responses((status = 200, body = OrderView), (status = 409, description = "`changed_meanwhile`, `invalid_transition`", body = crate::error::ErrorBody), (status = 422, description = "`image_too_large`, `invalid_image`, `invalid_money`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn upload_receipt(
    State(app): State<Shop>,
    actor: Actor,
    Path(id): Path<OrderId>,
    form: Multipart,
) -> ApiResult<Json<OrderView>> {
    let (order, scope) = scoped_order(&app, &actor, id).await?;
    if order.member_id != MemberId(actor.user_id) {
        return Err(ApiError::forbidden());
    }
    let (amount, remark, proof) = payment_form(&app, PaymentBody::Form(form)).await?;
    let proof = proof.ok_or_else(|| {
        ApiError::invalid_field(
            "invalid_image",
            "proof",
            "proof: 请上传转账凭证 (a picture of the transfer)",
        )
    })?;
    let now = app.clock.now_ms();
    let recorded = app
        .store
        .orders()
        .record_payment(
            &order,
            &PaymentEntry {
                kind: PaymentKind::Receipt,
                amount_fen: Fen(amount.unwrap_or(0)),
                proof: Some(&proof),
                remark: &remark,
                actor_id: actor.user_id,
            },
            now,
        )
        .await?;
    if !recorded {
        return Err(invalid_transition(&order, scope.audience()));
    }
    proof.keep();
    let order = app
        .store
        .orders()
        .order(id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(order.view(scope.audience())))
}

/// The form of `POST /admin/orders/{id}/payments` (multipart/form-data).
#[derive(ToSchema)]
#[expect(
    dead_code,
    reason = "documents the multipart form for the OpenAPI document"
)]
pub struct PaymentForm {
    /// What was received, in fen.
    amount_fen: i64,
    /// A picture of the proof of payment (JPEG, PNG or WebP); or else a `remark`.
    #[schema(value_type = Option<String>, format = Binary)]
    proof: Option<Vec<u8>>,
    remark: Option<String>,
}

/// Whether money received may be recorded against an order in `status` (F1): once it is
/// confirmed, so its price is fixed when it is paid (E9), and until it closes. The order page
/// offers the form exactly then (while something is still owed); `mark_paid` refuses
/// otherwise, and the store's guard again for a close that races it.
pub fn takes_payment(status: OrderStatus) -> bool {
    !matches!(
        status,
        OrderStatus::PendingConfirmation | OrderStatus::Closed
    )
}

/// Mark money received for an order (admin, customer service; F1), with a proof picture or a
/// remark. A pay-first order paid in full moves on to 待发货.
#[utoipa::path(post, path = "/admin/orders/{id}/payments", tag = "orders", params(("id" = i64, Path)),
    request_body(description = "JSON without a picture, or the form with a `proof` picture", content((PaymentNote = "application/json"), (PaymentForm = "multipart/form-data"))),
    responses((status = 200, body = OrderView), (status = 409, description = "`changed_meanwhile`, `invalid_transition`", body = crate::error::ErrorBody), (status = 422, description = "`image_too_large`, `invalid_image`, `invalid_money`, `overpayment`, `proof_required`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn mark_paid(
    State(app): State<Shop>,
    actor: Actor,
    Path(id): Path<OrderId>,
    body: PaymentBody,
) -> ApiResult<Json<OrderView>> {
    let (order, scope) = scoped_order(&app, &actor, id).await?;
    actor.require(Permission::SettleOrders)?;
    let (amount, remark, proof) = payment_form(&app, body).await?;
    let amount = amount.filter(|a| *a > 0).ok_or_else(|| {
        ApiError::invalid_field(
            "invalid_money",
            "amount_fen",
            "amount_fen: 请填写收款金额 (the amount received)",
        )
    })?;
    if proof.is_none() && remark.is_empty() {
        return Err(ApiError::invalid_field(
            "proof_required",
            "remark",
            "remark: 请上传收款凭证或填写备注 (a proof picture or a remark)",
        ));
    }
    if !takes_payment(order.status) {
        return Err(invalid_transition(&order, scope.audience()));
    }
    let owed = order.owed();
    if amount > owed.get() {
        return Err(ApiError::invalid_field(
            "overpayment",
            "amount_fen",
            format!("amount_fen: 超出应付金额，尚欠{owed} (more than the {owed} still owed)"),
        ));
    }
    let now = app.clock.now_ms();
    let recorded = app
        .store
        .orders()
        .record_payment(
            &order,
            &PaymentEntry {
                kind: PaymentKind::Payment,
                amount_fen: Fen(amount),
                proof: proof.as_ref(),
                remark: &remark,
                actor_id: actor.user_id,
            },
            now,
        )
        .await?;
    if !recorded {
        return Err(invalid_transition(&order, scope.audience()));
    }
    if let Some(proof) = proof {
        proof.keep();
    }
    let order = app
        .store
        .orders()
        .order(id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(order.view(scope.audience())))
}
